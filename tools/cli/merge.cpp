// `genie merge OUT.gwt PART...`: the parts of a sharded `genie distill --shard i/n` as the file a
// single run makes.
#include <cstdio>

#include "genie/merge_shards.h"
#include "tools/cli/commands.h"

namespace cli {

int merge(int argc, char** argv) {
  cxxopts::Options options("genie merge",
                           "Join the parts of genie distill --shard i/n (any order) into the "
                           "images file of a single run.");
  options.positional_help("OUT.gwt PART.gwt...");
  options.add_options()("files", "OUT.gwt, then the parts",
                        cxxopts::value<std::vector<std::string>>());
  options.parse_positional({"files"});
  cxxopts::ParseResult args;
  if (!parse_or_help(options, argc, argv, args)) return 0;
  std::vector<std::string> files;
  if (args.count("files")) files = args["files"].as<std::vector<std::string>>();
  if (files.size() < 2)
    throw cxxopts::exceptions::parsing("needs the output file and at least one part");
  std::vector<std::string> parts(files.begin() + 1, files.end());
  std::vector<PathFlag> inputs;
  for (const std::string& part : parts) inputs.push_back({"part", part});
  check_outputs(inputs, {{"OUT", files[0]}});
  genie::ImagesFile merged = genie::merge_shards(parts);
  genie::write_images_file(files[0], merged);
  std::printf("merged=%s parts=%zu batches=%zu images=%d\n", files[0].c_str(), parts.size(),
              merged.batches.size(), merged.settings.num_images);
  return 0;
}

}  // namespace cli
