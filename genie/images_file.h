// The distilled-images file (.gwt, data/FORMAT.md): GENIE-D's finished batches with the settings
// that made them. One writer serves a single run, each shard of a sharded run and the merge of
// the shards, so that a merged file has the bytes of a single run's.
//
// A run of B batches may be split into n shards: global batch b belongs to shard b % n, so shard
// i holds batches i, i + n, i + 2n, ... A single run is shard 0/1, and its file names no shard.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"
#include "genie/distill.h"

namespace genie {

// What made an images file, and which of the run's batches it holds.
struct ImagesSettings {
  std::string arch;
  DistillMethod method = DistillMethod::Genie;
  bool swing = true;
  int num_images = 0;
  int batch = 0;
  int iters = 0;
  uint64_t seed = 0;
  int shard = 0;   // this file's share: 0..shards-1
  int shards = 1;  // 1: the whole run

  int run_batches() const;           // batches of the whole run
  int held_batches() const;          // batches of this shard
  int global_batch(int held) const;  // the run's index of this shard's `held`-th batch
  int batch_size(int global) const;  // images in the run's batch `global`
  std::string shard_name() const;    // "i/n"
};

// The settings of a run of `config` on a model of architecture `arch`.
ImagesSettings images_settings(const std::string& arch, const DistillConfig& config);

// The settings as the file's metadata, in file order; `shard` only when shards > 1.
std::vector<std::pair<std::string, std::string>> describe(const ImagesSettings& settings);

struct DistilledBatch {
  engine::Tensor images;  // (size, C, S, S), on any device
  float bns_loss_first = 0, bns_loss_last = 0;
};

struct ImagesFile {
  ImagesSettings settings;
  std::vector<DistilledBatch> batches;  // this shard's finished batches, in order
};

// The finished batches' images one after another: (images, C, S, S), on the host.
engine::Tensor concatenate(const std::vector<DistilledBatch>& batches);

// Atomically (engine::write_tensor_file); throws engine::FileError naming the path.
void write_images_file(const std::string& path, const ImagesFile& file);
// Throws engine::FileError naming the path unless it is an images file whose metadata and
// tensors agree: known settings, at most the shard's batches, as many images as they hold.
ImagesFile read_images_file(const std::string& path);

// Whether text is "i/n" with 0 <= i < n; sets shard and shards when it is.
bool parse_shard(const std::string& text, int& shard, int& shards);

// The first metadata key whose values differ between two files' settings ("" when none).
struct SettingDifference {
  std::string key, first_value, second_value;  // "(none)" for a key one side lacks
};
SettingDifference first_difference(const ImagesSettings& first, const ImagesSettings& second);

}  // namespace genie
