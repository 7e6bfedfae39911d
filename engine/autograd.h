// Reverse-mode automatic differentiation: grad mode and recording an op's backward.
//
// The graph is implicit: every op output keeps its inputs and a closure. Tensor::backward()
// orders the graph topologically (iteratively, inputs in argument order, so the order is
// deterministic) and runs the closures from the loss back to the leaves, freeing each node (its
// edges, closure and, unless a caller holds it, its values) once its backward has run.
//
// Typical op (engine/ops/):
//   Tensor out = Tensor::uninitialized(shape, x.device());  // the kernel writes every element
//   GENIE_KERNEL(x.device(), f_forward)(out.data(), x.data(), ...);
//   record(out, {x}, [x, o = out.node()]() {
//     GENIE_KERNEL(x.device(), f_backward)(x.grad(), o->gradient(), x.data(), ...);
//   });
#pragma once

#include <functional>
#include <vector>

#include "engine/tensor.h"

namespace engine {

bool grad_enabled();

// Inside a NoGrad scope no op records history (inference, caching activations).
class NoGrad {
 public:
  NoGrad();
  ~NoGrad();
  NoGrad(const NoGrad&) = delete;
  NoGrad& operator=(const NoGrad&) = delete;

 private:
  bool previous_;
};

// True when an op on these inputs must record its backward.
bool needs_grad(const std::vector<Tensor>& inputs);

// Makes `out` a graph node computed from `inputs` when any of them requires a gradient.
// `backward` runs once out's grad is final and adds into the grads of the inputs that
// require one (check `input.requires_grad()` to skip work for frozen tensors).
void record(Tensor& out, const std::vector<Tensor>& inputs, std::function<void()> backward);

// For kernels: t's values, or null when t is undefined (an optional bias).
const float* data_or_null(const Tensor& t);
// t's gradient when it needs one, else null: a backward kernel skips null gradients.
float* grad_or_null(const Tensor& t);

}  // namespace engine
