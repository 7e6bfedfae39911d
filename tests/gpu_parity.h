// Running the same computation on the CPU and on a CUDA device and comparing the two: the GPU
// parity suites (test_gpu_ops.cpp, test_gpu_end_to_end.cpp). Every case starts with
// skip_without_gpu(), so that on a machine without one the suite says why once and passes.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "engine/device.h"
#include "engine/ops.h"
#include "engine/rng.h"

namespace testing {

// True (after one line on stdout per process) when no CUDA device can be used: the caller
// returns.
inline bool skip_without_gpu() {
  if (engine::cuda_available()) return false;
  static bool said = false;
  if (!said)
    std::printf("GPU parity cases skipped: %s\n", engine::cuda_unavailable_reason().c_str());
  said = true;
  return true;
}

// max |a - b| over max(1, max |a|): an error relative to the result's scale; infinite where
// only one side is NaN (a NaN difference would otherwise drop out of the max unseen).
inline double relative_difference(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double scale = 1.0, worst = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) != std::isnan(b[i])) return INFINITY;
    scale = std::max(scale, static_cast<double>(std::fabs(a[i])));
    worst = std::max(worst, static_cast<double>(std::fabs(a[i] - b[i])));
  }
  return worst / scale;
}

// What one device computed: the output and the gradient of every input.
struct DeviceResult {
  std::vector<float> output;
  std::vector<std::vector<float>> grads;
};

using TensorFunction = std::function<engine::Tensor(const std::vector<engine::Tensor>&)>;

// f on copies of `inputs` on `device`, then the gradient of sum(f * weights) into every input
// that requires one (weights fixed by the seed, the same on both devices).
inline DeviceResult run_on(engine::Device device, const std::vector<engine::Tensor>& inputs,
                           const TensorFunction& f) {
  std::vector<engine::Tensor> moved;
  for (const engine::Tensor& t : inputs) {
    if (!t.defined()) {  // an absent optional input (a bias) stays absent
      moved.push_back(t);
      continue;
    }
    engine::Tensor copy = t.clone().to(device);
    copy.requires_grad_(t.requires_grad());
    moved.push_back(copy);
  }
  engine::Tensor out = f(moved);
  engine::Rng rng(99);
  engine::Tensor weights = engine::randn(out.shape(), rng, 0.0f, 1.0f, device);
  DeviceResult r{out.values(), {}};
  if (out.requires_grad()) engine::sum_all(engine::mul(out, weights)).backward();
  for (const engine::Tensor& t : moved)
    r.grads.push_back(t.defined() && t.requires_grad() ? t.grad_values() : std::vector<float>{});
  return r;
}

// f on the CPU and on CUDA agree within `tolerance` (relative), in the output and every
// gradient. The tolerance is the caller's: each op family states why its own is what it is.
inline void check_parity(const std::string& what, const std::vector<engine::Tensor>& inputs,
                         const TensorFunction& f, double tolerance) {
  INFO(what);
  DeviceResult cpu = run_on(engine::Device::CPU, inputs, f);
  DeviceResult gpu = run_on(engine::Device::CUDA, inputs, f);
  CHECK(relative_difference(cpu.output, gpu.output) <= tolerance);
  for (size_t i = 0; i < cpu.grads.size(); ++i) {
    INFO("gradient of input " << i);
    if (cpu.grads[i].empty() && gpu.grads[i].empty()) continue;  // no gradient reached it
    CHECK(relative_difference(cpu.grads[i], gpu.grads[i]) <= tolerance);
  }
}

// A random input that requires a gradient.
inline engine::Tensor random_input(const engine::Shape& shape, uint64_t seed, float lo = -2.0f,
                                   float hi = 2.0f) {
  engine::Rng rng(seed);
  engine::Tensor t = engine::rand_uniform(shape, rng, lo, hi);
  t.requires_grad_();
  return t;
}

}  // namespace testing
