// Training a ResNet classifier from scratch (how the embedded default model was made):
// SGD with momentum and weight decay, cosine learning-rate schedule over the epochs, random
// crop with zero padding and horizontal flip. A checkpoint (OUT.ckpt) is written after every
// epoch, so a killed run continues with `resume`; each epoch draws its own random stream from
// (seed, epoch), so a resumed run ends with the same weights as an uninterrupted one.
#pragma once

#include <cstdint>
#include <string>

#include "engine/dataset/dataset.h"
#include "engine/optim.h"
#include "models/resnet.h"

namespace models {

struct TrainConfig {
  std::string arch = "resnet20";
  char shortcut = 'A';
  std::string data = "fashion-mnist";  // dataset SPEC; its train split is used
  std::string out;                     // the trained model file
  int epochs = 30;
  int batch = 128;
  float lr = 0.1f;
  float momentum = 0.9f;
  float weight_decay = 5e-4f;
  int crop_padding = 2;  // random crop after zero-padding by this many pixels
  bool flip = true;      // random horizontal flip
  int64_t limit = 0;     // train on the first `limit` images only (0: all)
  uint64_t seed = 0;
  bool resume = false;
  engine::Device device = engine::Device::CPU;  // where the model trains
};

// The model config that fits a dataset SPEC (channels, size, mean/std of its images).
ModelConfig config_for_dataset(const std::string& arch, char shortcut, const std::string& spec,
                               int num_classes);

// The checkpoint written beside config.out after every epoch.
std::string checkpoint_path(const TrainConfig& config);

// The recipe's optimizer over the model's parameters: SGD with config's lr, momentum and weight
// decay. Make it after moving the model to its device: it holds the parameters' handles.
engine::Sgd recipe_optimizer(ResNet& model, const TrainConfig& config);

struct StepResult {
  engine::Tensor logits;  // (n, classes), on the model's device
  engine::Tensor loss;    // reading it (item()) waits for the step on a GPU
};

// One step of the recipe on a host batch of pixels in [0, 1], which it augments and normalises
// in place: forward with batch statistics, cross-entropy, backward, optimizer step. Training
// runs it on every batch and `genie bench train` times it.
StepResult train_step(ResNet& model, engine::Batch& batch, const TrainConfig& config,
                      engine::Optimizer& opt, engine::Rng& rng);

// Trains and writes config.out; returns the final test top-1 (percent).
double train(const TrainConfig& config);

}  // namespace models
