// Joining the part files of a sharded GENIE-D run (genie distill --shard i/n) into the file a
// single run makes: the same settings, batches and bytes.
#pragma once

#include <string>
#include <vector>

#include "genie/images_file.h"

namespace genie {

// The parts, in any order, as one single-run file. Throws engine::FileError, naming the file,
// unless the parts are complete (every batch of their shard finished), made with the same
// settings, of the same number of shards, and hold every shard exactly once.
ImagesFile merge_shards(const std::vector<std::string>& part_paths);

}  // namespace genie
