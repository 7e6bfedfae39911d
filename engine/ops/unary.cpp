// Unary elementwise ops: activations, powers, clamping and rounding.
//
// Shapes: out has x's shape; every array below has n = x.numel() elements.
// Each op is a value y = f(x) and a local derivative dy/dx = df(x, y): the derivative gets y too
// because tanh and sigmoid are cheapest from their output. One forward and one backward kernel
// serve every op. The derivatives at kinks follow PyTorch: relu and abs give 0 at 0, leaky_relu
// gives the slope at 0, and clamp passes the gradient at its bounds (GENIE.md relies on this).
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "engine/autograd.h"
#include "engine/ops.h"

namespace engine {

namespace {

template <class F>
void unary_forward(float* out, const float* x, int64_t n, F f) {
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) out[i] = f(x[i]);
}

// dx += dout * df(x, out)
template <class DF>
void unary_backward(float* dx, const float* dout, const float* x, const float* out, int64_t n,
                    DF df) {
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) dx[i] += dout[i] * df(x[i], out[i]);
}

template <class F, class DF>
Tensor unary_op(const Tensor& x, F f, DF df) {
  Tensor out(x.shape());
  unary_forward(out.data(), x.data(), x.numel(), f);
  record(out, {x}, [x, o = out.node(), df]() mutable {
    unary_backward(x.grad(), o->grad.data(), x.data(), o->data->data(), x.numel(), df);
  });
  return out;
}

// Split by sign so that exp never overflows: for x < 0, e^x / (1 + e^x) instead of 1/(1 + e^-x).
float stable_sigmoid(float x) {
  if (x >= 0.0f) return 1.0f / (1.0f + std::exp(-x));
  float e = std::exp(x);
  return e / (1.0f + e);
}

}  // namespace

// std::max(x, 0) rather than x > 0 ? x : 0 so that NaN propagates instead of becoming 0.
Tensor relu(const Tensor& x) {
  return unary_op(
      x, [](float v) { return std::max(v, 0.0f); },
      [](float v, float) { return v > 0.0f ? 1.0f : 0.0f; });
}

Tensor leaky_relu(const Tensor& x, float negative_slope) {
  return unary_op(
      x, [negative_slope](float v) { return v > 0.0f ? v : negative_slope * v; },
      [negative_slope](float v, float) { return v > 0.0f ? 1.0f : negative_slope; });
}

Tensor tanh(const Tensor& x) {
  return unary_op(
      x, [](float v) { return std::tanh(v); }, [](float, float y) { return 1.0f - y * y; });
}

Tensor sigmoid(const Tensor& x) {
  return unary_op(x, stable_sigmoid, [](float, float y) { return y * (1.0f - y); });
}

Tensor square(const Tensor& x) {
  return unary_op(
      x, [](float v) { return v * v; }, [](float v, float) { return 2.0f * v; });
}

Tensor abs(const Tensor& x) {
  return unary_op(
      x, [](float v) { return std::fabs(v); },
      [](float v, float) { return static_cast<float>((v > 0.0f) - (v < 0.0f)); });
}

// Outside the domain (x < 0 with a fractional exponent) the value is NaN, as in PyTorch. The
// exponent-0 case is special-cased because p * x^(p-1) would give 0 * inf at x = 0.
Tensor pow(const Tensor& x, float exponent) {
  return unary_op(
      x, [exponent](float v) { return std::pow(v, exponent); },
      [exponent](float v, float) {
        return exponent == 0.0f ? 0.0f : exponent * std::pow(v, exponent - 1.0f);
      });
}

Tensor clamp(const Tensor& x, float lo, float hi) {
  if (!(lo <= hi))
    throw std::invalid_argument("clamp of " + shape_str(x.shape()) + " needs lo <= hi, got lo " +
                                std::to_string(lo) + " hi " + std::to_string(hi));
  return unary_op(
      x, [lo, hi](float v) { return std::min(std::max(v, lo), hi); },
      [lo, hi](float v, float) { return lo <= v && v <= hi ? 1.0f : 0.0f; });
}

// nearbyint under the default rounding mode rounds half to even, as torch.round does;
// std::round would round half away from zero.
Tensor round_ste(const Tensor& x) {
  return unary_op(
      x, [](float v) { return std::nearbyint(v); }, [](float, float) { return 1.0f; });
}

Tensor floor(const Tensor& x) {
  return unary_op(
      x, [](float v) { return std::floor(v); }, [](float, float) { return 0.0f; });
}

}  // namespace engine
