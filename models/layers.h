// The parameterised layers of the models: conv, batch norm, linear. Each holds its tensors and
// its name in the PyTorch state_dict ("layer1.0.conv1"), so that weight files, GENIE's hooks
// and the quantizers can all refer to a layer by the name a PyTorch user knows.
#pragma once

#include <string>
#include <vector>

#include "engine/ops.h"
#include "engine/rng.h"

namespace models {

using engine::Tensor;

struct Conv2d {
  std::string name;
  Tensor weight;  // (K, C, R, S)
  Tensor bias;    // (K) or undefined
  int stride = 1;
  int padding = 0;
};

struct BatchNorm2d {
  std::string name;
  Tensor weight;  // (C) gamma, undefined when not affine
  Tensor bias;    // (C) beta, undefined when not affine
  engine::BatchNormState state;
};

struct Linear {
  std::string name;
  Tensor weight;  // (out, in)
  Tensor bias;    // (out) or undefined
};

// Fresh layers. `init` says how weights are drawn: for training from scratch the ResNets use
// Kaiming-normal convs; the GENIE-D generator uses PyTorch's default uniform init.
enum class Init { KaimingNormal, TorchDefault };
Conv2d make_conv(const std::string& name, int in, int out, int kernel, int stride, int padding,
                 bool bias, Init init, engine::Rng& rng);
BatchNorm2d make_batch_norm(const std::string& name, int channels, bool affine = true);
Linear make_linear(const std::string& name, int in, int out, engine::Rng& rng);

Tensor run(const Conv2d& conv, const Tensor& x);
Tensor run(const Linear& linear, const Tensor& x);
Tensor run(BatchNorm2d& bn, const Tensor& x, bool training);

// (name, tensor) pairs in PyTorch state_dict order; running statistics included.
void append_tensors(Conv2d& conv, std::vector<std::pair<std::string, Tensor*>>& out);
void append_tensors(BatchNorm2d& bn, std::vector<std::pair<std::string, Tensor*>>& out);
void append_tensors(Linear& linear, std::vector<std::pair<std::string, Tensor*>>& out);

// Moves every tensor of `named` (weights, biases, running statistics) to `device`.
void move_tensors(const std::vector<std::pair<std::string, Tensor*>>& named, engine::Device device);

}  // namespace models
