// Optimizers with the update rules of PyTorch 1.13's torch.optim.Adam and torch.optim.SGD
// (single-tensor path), so that a training recipe ported from PyTorch behaves the same here.
//
// An optimizer holds handles to its parameters and updates their values in place from their
// grads; a parameter without a grad this step is left alone, as in PyTorch. `lr` is public
// because learning-rate schedules (lr_schedule.h) rewrite it between steps.
//
// Per-element arithmetic is float32 like PyTorch's kernels; step-dependent scalars (bias
// corrections) are computed in double, as Python does, and rounded once.
//
// state() / load_state() give the optimizer's whole mutable state (lr included) as named
// tensors, so that a checkpoint can resume training bit for bit.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace engine {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class Optimizer {
 public:
  Optimizer(std::vector<Tensor> params, float lr);
  virtual ~Optimizer() = default;
  // A copy would share its moment buffers with the original (tensors are handles).
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  virtual void step() = 0;
  void zero_grad();

  virtual NamedTensors state() const = 0;
  // Throws std::invalid_argument when a tensor is missing or has the wrong shape.
  virtual void load_state(const NamedTensors& state) = 0;

  const std::vector<Tensor>& params() const { return params_; }

  float lr;

 protected:
  std::vector<Tensor> params_;
};

struct AdamOptions {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;  // L2: added to the gradient, not decoupled (that is AdamW)
};

class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, float lr = 1e-3f, AdamOptions options = {});
  void step() override;
  // "lr", and per parameter i: "adam.step.i" (1), "adam.m.i" and "adam.v.i" (param's shape).
  NamedTensors state() const override;
  void load_state(const NamedTensors& state) override;

 private:
  AdamOptions options_;
  std::vector<int64_t> steps_;  // per parameter: a parameter without a grad does not advance
  std::vector<Tensor> m_;       // first moment, param's shape
  std::vector<Tensor> v_;       // second moment, param's shape
};

struct SgdOptions {
  double momentum = 0.0;
  double weight_decay = 0.0;
};

class Sgd : public Optimizer {
 public:
  Sgd(std::vector<Tensor> params, float lr, SgdOptions options = {});
  void step() override;
  // "lr", and "sgd.momentum.i" for each parameter i whose momentum buffer exists yet.
  NamedTensors state() const override;
  void load_state(const NamedTensors& state) override;

 private:
  SgdOptions options_;
  std::vector<Tensor> momentum_;  // undefined until the parameter's first step with momentum
};

}  // namespace engine
