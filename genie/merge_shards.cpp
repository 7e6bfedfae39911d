// Merging a sharded run's parts; see merge_shards.h.
#include "genie/merge_shards.h"

#include "engine/tensor_file.h"

namespace genie {

namespace {

struct Part {
  std::string path;
  ImagesFile file;
};

void check_complete(const Part& part) {
  const ImagesSettings& s = part.file.settings;
  size_t held = part.file.batches.size();
  if (held != static_cast<size_t>(s.held_batches()))
    throw engine::FileError(
        part.path + ": shard " + s.shard_name() + " is incomplete: " + std::to_string(held) +
        " of its " + std::to_string(s.held_batches()) +
        " batches (finish it with genie distill --shard " + s.shard_name() + " --resume)");
}

// `part` against `first`, the part every other is compared with.
void check_consistent(const Part& part, const Part& first) {
  const ImagesSettings& s = part.file.settings;
  if (s.shards != first.file.settings.shards)
    throw engine::FileError(part.path + ": shard " + s.shard_name() + " is one of " +
                            std::to_string(s.shards) + " shards, " + first.path + " one of " +
                            std::to_string(first.file.settings.shards));
  ImagesSettings same_shard = first.file.settings;
  same_shard.shard = s.shard;
  SettingDifference d = first_difference(s, same_shard);
  if (!d.key.empty())
    throw engine::FileError(part.path + ": made with " + d.key + "=" + d.first_value + ", " +
                            first.path + " with " + d.key + "=" + d.second_value);
}

// The part of each shard, refusing a shard given twice or missing.
std::vector<const Part*> by_shard(const std::vector<Part>& parts) {
  std::vector<const Part*> shards(parts.front().file.settings.shards, nullptr);
  for (const Part& part : parts) {
    const Part*& slot = shards[part.file.settings.shard];
    if (slot)
      throw engine::FileError(part.path + ": shard " + part.file.settings.shard_name() +
                              " is given twice, also as " + slot->path);
    slot = &part;
  }
  for (size_t i = 0; i < shards.size(); ++i)
    if (!shards[i])
      throw engine::FileError("shard " + std::to_string(i) + "/" + std::to_string(shards.size()) +
                              " is missing: " + std::to_string(parts.size()) + " parts given, " +
                              "the first, " + parts.front().path + ", is one of " +
                              std::to_string(shards.size()));
  return shards;
}

}  // namespace

ImagesFile merge_shards(const std::vector<std::string>& part_paths) {
  std::vector<Part> parts;
  for (const std::string& path : part_paths) {
    parts.push_back({path, read_images_file(path)});
    check_complete(parts.back());
    check_consistent(parts.back(), parts.front());
  }
  std::vector<const Part*> shards = by_shard(parts);
  ImagesFile merged;
  merged.settings = parts.front().file.settings;
  merged.settings.shard = 0;
  merged.settings.shards = 1;
  int n = static_cast<int>(shards.size());
  for (int b = 0; b < merged.settings.run_batches(); ++b)
    merged.batches.push_back(shards[b % n]->file.batches[b / n]);
  return merged;
}

}  // namespace genie
