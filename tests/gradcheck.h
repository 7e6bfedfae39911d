// Finite-difference gradient checks for the tests.
//
// For a function f of some tensors, the scalar L = sum(f(inputs) * R) with a fixed random R is
// differentiated twice: by the engine's backward, and by central differences
// (L(x + eps) - L(x - eps)) / 2eps for every input element, with L accumulated in double so
// that float32 rounding of the sum does not swamp the difference.
#pragma once

#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/rng.h"
#include "tests/edit_values.h"

namespace testing {

using engine::Tensor;
using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

struct GradTolerance {
  float eps = 1e-2f;   // step: large enough that float32 rounding of f is small beside it
  float atol = 2e-3f;  // absolute floor for gradients near zero
  float rtol = 1e-2f;  // relative: finite differences of float32 are good to about 1e-3
};

inline double weighted_sum(const Tensor& out, const std::vector<float>& r) {
  double s = 0.0;
  for (int64_t i = 0; i < out.numel(); ++i) s += static_cast<double>(out.data()[i]) * r[i];
  return s;
}

// Checks d(sum(f(inputs) * R))/d(input) for every input that requires a gradient.
inline void check_gradients(const Fn& f, std::vector<Tensor> inputs, GradTolerance tol = {},
                            uint64_t seed = 1) {
  engine::Rng rng(seed);
  Tensor out0;
  {
    engine::NoGrad no_grad;
    out0 = f(inputs);
  }
  std::vector<float> r(out0.numel());
  for (float& v : r) v = rng.uniform(-1.0f, 1.0f);

  for (Tensor& t : inputs) t.zero_grad();
  Tensor out = f(inputs);
  REQUIRE(out.requires_grad());
  Tensor loss = engine::sum_all(engine::mul(out, Tensor(out.shape(), r)));
  loss.backward();

  engine::NoGrad no_grad;
  for (size_t k = 0; k < inputs.size(); ++k) {
    Tensor& x = inputs[k];
    if (!x.requires_grad()) continue;
    std::vector<float> analytic =
        x.has_grad() ? x.grad_values() : std::vector<float>(x.numel(), 0.0f);
    for (int64_t i = 0; i < x.numel(); ++i) {
      float saved = x.data()[i];
      x.data()[i] = saved + tol.eps;
      double up = weighted_sum(f(inputs), r);
      x.data()[i] = saved - tol.eps;
      double down = weighted_sum(f(inputs), r);
      x.data()[i] = saved;
      double numeric = (up - down) / (2.0 * tol.eps);
      INFO("input " << k << " element " << i << " of " << engine::shape_str(x.shape())
                    << ": analytic " << analytic[i] << " numeric " << numeric);
      CHECK(std::abs(analytic[i] - numeric) <= tol.atol + tol.rtol * std::abs(numeric));
    }
  }
}

// A random tensor that requires a gradient, values uniform in [lo, hi).
inline Tensor random_input(const engine::Shape& shape, uint64_t seed, float lo = -1.0f,
                           float hi = 1.0f) {
  engine::Rng rng(seed);
  Tensor t = engine::rand_uniform(shape, rng, lo, hi);
  t.requires_grad_();
  return t;
}

// Moves values within `margin` of any kink in `kinks` away from it, so that finite differences
// never straddle a point where the function is not differentiable.
inline void avoid_kinks(Tensor& t, const std::vector<float>& kinks, float margin) {
  edit_values(t, [&](float v) {
    for (float k : kinks)
      if (std::abs(v - k) < margin) v = k + (v < k ? -margin : margin);
    return v;
  });
}

}  // namespace testing
