// GENIE-D: distilling a calibration set from a trained network (docs/METHOD.md, "GENIE-D").
//
// For each batch of B images: a fresh generator and latent batch z (B, 256), optimised jointly,
// each with its own Adam (z: lr 0.1, reduce-on-plateau; generator: lr 0.01, x0.95 every 100
// iterations), so that the images' statistics at every BatchNorm input of the frozen network
// match the running statistics (bn_statistics_loss.h). Strided convs run behind a random swing
// shift (swing_conv.h). The images kept are the generator's output at the last iteration.
//
// The ablation methods replace what is optimised: `zeroq` the pixels themselves (Adam lr 0.5),
// `latent` z only with a fixed random generator, `generator` the generator only with z fixed,
// `noise` nothing (Gaussian images).
//
// Images live in the network's normalised input space: (num_images, C, S, S).
#pragma once

#include <cstdint>
#include <string>

#include "genie/observer.h"
#include "models/resnet.h"

namespace genie {

using engine::Tensor;

enum class DistillMethod { Genie, ZeroQ, Latent, Generator, Noise };
// "genie", "zeroq", "latent", "generator", "noise"; throws std::invalid_argument otherwise.
DistillMethod parse_distill_method(const std::string& name);
std::string method_name(DistillMethod method);

struct DistillConfig {
  DistillMethod method = DistillMethod::Genie;
  bool swing = true;
  int num_images = 1024;
  int batch = 128;
  int iters = 4000;
  uint64_t seed = 0;
  // The images file (.gwt), rewritten atomically after every finished batch; "" keeps the
  // images in memory only. With `resume`, the finished batches in it are kept and the run goes
  // on from the next one, ending with the same images as an uninterrupted run.
  std::string out;
  bool resume = false;
  // Of the run's batches only those of shard `shard` of `shards` (global batch b belongs to shard
  // b % shards), each the same as in a single run; images_file.h has the file they go to.
  int shard = 0;
  int shards = 1;
  bool progress = true;                // a progress bar per batch on stderr
  const Observer* observer = nullptr;  // told each iteration's losses and each finished batch
};

struct DistillResult {
  Tensor images;              // (num_images, C, S, S): the shard's images when sharded
  double bns_loss_first = 0;  // BN-statistics loss at the first iteration, mean over batches
  double bns_loss_last = 0;   // ... at the last iteration
  double seconds = 0;
};

// Freezes the model's parameters (gradients flow only to what distillation optimises).
DistillResult distill(models::ResNet& model, const DistillConfig& config);

}  // namespace genie
