// The distilled-images file; see images_file.h.
#include "genie/images_file.h"

#include <algorithm>
#include <stdexcept>

#include "engine/tensor_file.h"

namespace genie {

namespace {

constexpr const char* kKind = "distilled-images";
// The CLI's limits (tools/cli/commands.h): a file claiming more was not made by genie distill.
constexpr uint64_t kMaxImages = 1 << 20, kMaxIterations = 1 << 30;

bool all_digits(const std::string& text) {
  return !text.empty() && text.size() <= 20 &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// A metadata value that must be a whole number in lo..hi.
uint64_t meta_number(const engine::TensorFile& f, const std::string& path, const std::string& key,
                     uint64_t lo, uint64_t hi) {
  const std::string* text = f.meta(key);
  if (!text) throw engine::FileError(path + ": an images file needs the metadata key " + key);
  try {
    if (all_digits(*text)) {
      uint64_t value = std::stoull(*text);
      if (value >= lo && value <= hi) return value;
    }
  } catch (const std::out_of_range&) {
  }
  throw engine::FileError(path + ": " + key + "=" + *text + ", expected a number in " +
                          std::to_string(lo) + ".." + std::to_string(hi));
}

const std::string& meta_text(const engine::TensorFile& f, const std::string& path,
                             const std::string& key) {
  const std::string* text = f.meta(key);
  if (!text) throw engine::FileError(path + ": an images file needs the metadata key " + key);
  return *text;
}

ImagesSettings read_settings(const engine::TensorFile& f, const std::string& path) {
  if (meta_text(f, path, "kind") != kKind)
    throw engine::FileError(path + ": kind=" + *f.meta("kind") + ", expected " + kKind);
  ImagesSettings s;
  s.arch = meta_text(f, path, "arch");
  const std::string& method = meta_text(f, path, "method");
  try {
    s.method = parse_distill_method(method);
  } catch (const std::invalid_argument&) {
    throw engine::FileError(path + ": method=" + method + " is not a distillation method");
  }
  const std::string& swing = meta_text(f, path, "swing");
  if (swing != "on" && swing != "off")
    throw engine::FileError(path + ": swing=" + swing + ", expected on or off");
  s.swing = swing == "on";
  s.num_images = static_cast<int>(meta_number(f, path, "num_images", 1, kMaxImages));
  s.batch = static_cast<int>(meta_number(f, path, "batch", 1, kMaxImages));
  s.iters = static_cast<int>(meta_number(f, path, "iters", 0, kMaxIterations));
  s.seed = meta_number(f, path, "seed", 0, UINT64_MAX);
  const std::string* shard = f.meta("shard");
  if (shard && !parse_shard(*shard, s.shard, s.shards))
    throw engine::FileError(path + ": shard=" + *shard + ", expected i/n with 0 <= i < n");
  return s;
}

// This shard's batches, cut from the file's tensors.
std::vector<DistilledBatch> read_batches(const engine::TensorFile& f, const std::string& path,
                                         const ImagesSettings& s) {
  const engine::Tensor* images = f.tensor("images");
  const engine::Tensor* first = f.tensor("bns_loss_first");
  const engine::Tensor* last = f.tensor("bns_loss_last");
  if (!images || !first || !last || images->ndim() != 4 || first->ndim() != 1 ||
      last->shape() != first->shape())
    throw engine::FileError(path +
                            ": an images file needs images (N, C, S, S) and "
                            "bns_loss_first and bns_loss_last of one value per batch");
  int held = static_cast<int>(first->numel());
  if (held > s.held_batches())
    throw engine::FileError(path + ": " + std::to_string(held) + " batches, more than the " +
                            std::to_string(s.held_batches()) + " its settings make");
  int rows = 0;
  for (int k = 0; k < held; ++k) rows += s.batch_size(s.global_batch(k));
  if (images->size(0) != rows)
    throw engine::FileError(path + ": " + std::to_string(images->size(0)) + " images, its " +
                            std::to_string(held) + " batches hold " + std::to_string(rows));
  std::vector<DistilledBatch> batches;
  const std::vector<float> firsts = first->values(), lasts = last->values();
  for (int k = 0, start = 0; k < held; ++k) {
    int size = s.batch_size(s.global_batch(k));
    batches.push_back({engine::slice_rows(*images, start, size), firsts[k], lasts[k]});
    start += size;
  }
  return batches;
}

}  // namespace

int ImagesSettings::run_batches() const { return (num_images + batch - 1) / batch; }

int ImagesSettings::held_batches() const {
  return std::max(0, (run_batches() - shard + shards - 1) / shards);
}

int ImagesSettings::global_batch(int held) const { return shard + held * shards; }

int ImagesSettings::batch_size(int global) const {
  return std::min(batch, num_images - global * batch);
}

std::string ImagesSettings::shard_name() const {
  return std::to_string(shard) + "/" + std::to_string(shards);
}

ImagesSettings images_settings(const std::string& arch, const DistillConfig& c) {
  ImagesSettings s;
  s.arch = arch;
  s.method = c.method;
  s.swing = c.swing;
  s.num_images = c.num_images;
  s.batch = c.batch;
  s.iters = c.iters;
  s.seed = c.seed;
  s.shard = c.shard;
  s.shards = c.shards;
  return s;
}

std::vector<std::pair<std::string, std::string>> describe(const ImagesSettings& s) {
  std::vector<std::pair<std::string, std::string>> meta{
      {"arch", s.arch},
      {"method", method_name(s.method)},
      {"swing", s.swing ? "on" : "off"},
      {"num_images", std::to_string(s.num_images)},
      {"batch", std::to_string(s.batch)},
      {"iters", std::to_string(s.iters)},
      {"seed", std::to_string(s.seed)}};
  // A single run's file stays as it was before shards existed.
  if (s.shards > 1) meta.push_back({"shard", s.shard_name()});
  return meta;
}

engine::Tensor concatenate(const std::vector<DistilledBatch>& batches) {
  std::vector<engine::Tensor> images;
  for (const DistilledBatch& b : batches) images.push_back(b.images);
  return engine::concat_rows(images).to(engine::Device::CPU);
}

void write_images_file(const std::string& path, const ImagesFile& file) {
  engine::TensorFile f;
  f.set_meta("kind", kKind);
  for (const auto& [key, value] : describe(file.settings)) f.set_meta(key, value);
  std::vector<float> first, last;
  for (const DistilledBatch& b : file.batches) {
    first.push_back(b.bns_loss_first);
    last.push_back(b.bns_loss_last);
  }
  f.tensors.push_back({"images", concatenate(file.batches)});
  int n = static_cast<int>(file.batches.size());
  f.tensors.push_back({"bns_loss_first", engine::Tensor({n}, first)});
  f.tensors.push_back({"bns_loss_last", engine::Tensor({n}, last)});
  engine::write_tensor_file(path, f);
}

ImagesFile read_images_file(const std::string& path) {
  engine::TensorFile f = engine::read_tensor_file(path);
  ImagesFile file;
  file.settings = read_settings(f, path);
  file.batches = read_batches(f, path, file.settings);
  return file;
}

bool parse_shard(const std::string& text, int& shard, int& shards) {
  size_t slash = text.find('/');
  if (slash == std::string::npos) return false;
  std::string i = text.substr(0, slash), n = text.substr(slash + 1);
  if (!all_digits(i) || !all_digits(n) || i.size() > 9 || n.size() > 9) return false;
  int parsed_shard = std::stoi(i), parsed_shards = std::stoi(n);
  if (parsed_shards < 1 || parsed_shard >= parsed_shards) return false;
  shard = parsed_shard;
  shards = parsed_shards;
  return true;
}

SettingDifference first_difference(const ImagesSettings& first, const ImagesSettings& second) {
  auto a = describe(first), b = describe(second);
  // Either side may name a shard the other lacks; "shard" is always last.
  auto value_of = [](const std::vector<std::pair<std::string, std::string>>& meta, size_t i) {
    return i < meta.size() ? meta[i].second : std::string("(none)");
  };
  for (size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
    const std::string& key = i < a.size() ? a[i].first : b[i].first;
    if (value_of(a, i) != value_of(b, i)) return {key, value_of(a, i), value_of(b, i)};
  }
  return {};
}

}  // namespace genie
