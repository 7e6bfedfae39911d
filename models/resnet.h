// ResNets: CIFAR style (ResNet-20/32/44/56: 3 stages of BasicBlocks with 16/32/64 channels) and
// ImageNet style (ResNet-18/34 BasicBlock, ResNet-50 Bottleneck, torchvision layout and names).
//
// Besides a plain forward pass, a ResNet exposes what GENIE needs:
//  - the input of every BatchNorm layer (GENIE-D's statistics loss) through ForwardHooks,
//  - every conv and linear call (swing conv in GENIE-D, fake quantization in GENIE-M),
//  - its reconstruction units in order (stem conv, each block, the classifier head), each
//    runnable on its own: forward(x) == unit_last(...unit_1(unit_0(x))).
// Shapes: x (N, C, S, S) normalised input; logits (N, classes).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "models/layers.h"

namespace models {

struct ModelConfig {
  std::string arch = "resnet20";  // resnet20/32/44/56 or resnet18/34/50
  char shortcut = 'A';            // CIFAR: 'A' parameter-free, 'B' 1x1 conv + BN
  int width = 0;                  // channels of the first stage; 0: the standard 16 or 64
  int num_classes = 10;
  int in_channels = 1;
  int input_size = 28;
  std::vector<float> mean{0.2860f};  // per input channel, of pixel values in [0, 1]
  std::vector<float> std{0.3530f};
};

bool is_cifar_arch(const std::string& arch);
// Throws std::invalid_argument naming the field when a config cannot describe a model.
void validate(const ModelConfig& config);

struct Block;

// Interceptions of a forward pass. Unset members mean the plain layer.
struct ForwardHooks {
  bool train_bn = false;  // BatchNorm in training mode (batch statistics)
  std::function<void(const BatchNorm2d&, const Tensor&)> bn_input;  // sees each BN's input
  std::function<Tensor(const Conv2d&, const Tensor&)> conv;         // runs each conv
  std::function<Tensor(const Linear&, const Tensor&)> linear;       // runs the classifier
  // Transforms what a parameter-free shortcut (identity or option A) reads of its block's input.
  // The convs, the projection shortcut's included, read that input through `conv`.
  std::function<Tensor(const Block&, const Tensor&)> skip_input;
};

// A BasicBlock (two 3x3 convs) or a Bottleneck (1x1, 3x3, 1x1), with its shortcut.
struct Block {
  std::string name;              // "layer2.0"
  std::vector<Conv2d> convs;     // conv1, conv2[, conv3]
  std::vector<BatchNorm2d> bns;  // bn1, bn2[, bn3]
  bool projection = false;       // shortcut is conv + BN (option B / downsample)
  Conv2d shortcut_conv;
  BatchNorm2d shortcut_bn;
  int shortcut_pad_channels = 0;  // option A: > 0 when the block changes shape
};

class ResNet {
 public:
  explicit ResNet(const ModelConfig& config, uint64_t seed = 0);

  const ModelConfig& config() const { return config_; }
  Tensor forward(const Tensor& x, const ForwardHooks& hooks = {});

  int num_units() const { return static_cast<int>(blocks_.size()) + 2; }
  std::string unit_name(int unit) const;
  Tensor forward_unit(int unit, const Tensor& x, const ForwardHooks& hooks = {});

  std::vector<BatchNorm2d*> batch_norms();  // network order
  std::vector<Conv2d*> convs();             // network order
  Linear& classifier() { return fc_; }
  std::vector<Block>& blocks() { return blocks_; }
  // (state_dict name, tensor) in PyTorch's order, running statistics included.
  std::vector<std::pair<std::string, Tensor*>> named_tensors();
  // The trainable tensors (weights and biases of convs, BNs and the classifier).
  std::vector<Tensor> parameters();
  // Frozen: no parameter requires a gradient (inputs still get one).
  void set_trainable(bool trainable);
  // Moves every tensor to `device`; everything the model computes then happens there.
  void to(engine::Device device);
  engine::Device device() const { return fc_.weight.device(); }

 private:
  Tensor run_block(Block& block, const Tensor& x, const ForwardHooks& hooks);
  // The skip path: the projection conv + BN, or the (possibly transformed, padded) input.
  Tensor shortcut(Block& block, const Tensor& x, const ForwardHooks& hooks);
  Tensor stem_glue(const Tensor& x, const ForwardHooks& hooks);

  ModelConfig config_;
  Conv2d stem_;
  BatchNorm2d stem_bn_;
  std::vector<Block> blocks_;
  Linear fc_;
};

}  // namespace models
