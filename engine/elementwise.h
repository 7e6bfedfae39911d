// The per-element arithmetic of the elementwise ops, written once for every backend: each
// function here is compiled by g++ for the CPU kernels and by nvcc (as __host__ __device__) for
// the CUDA kernels, so the CPU tests exercise the arithmetic that the GPU runs.
//
// A unary op is a value y = f(x) and a local derivative dy/dx = df(x, y) (tanh and sigmoid are
// cheapest from y). A binary op is a value f(a, b) and the derivatives d/da, d/db, given a, b and
// the output. The derivatives at kinks follow PyTorch: relu and abs give 0 at 0, leaky_relu gives
// the slope at 0, and clamp passes the gradient at its bounds (the straight-through estimator of
// GENIE-M's quantizers relies on it). round_ste rounds half to even (torch.round) and passes the
// gradient straight through.
//
// The GENIE-M quantizers are compositions of these: the rectified sigmoid
// clamp(sigmoid(V) * 1.2 - 0.1, 0, 1), the fake quantizer s * round_ste(clamp(x / s, n, p)), and
// QDrop's where(mask, x, quantized), so each quantizer's arithmetic is here too.
#pragma once

#include <cmath>
#include <cstdint>

#include "engine/host_device.h"

namespace engine {

enum class UnaryKind {
  Affine,     // x * a + b (add_scalar, mul_scalar)
  Relu,       // max(x, 0)
  LeakyRelu,  // x > 0 ? x : a * x
  Tanh,
  Sigmoid,
  Square,
  Sqrt,
  Abs,
  Pow,       // x^a
  Clamp,     // min(max(x, a), b)
  Round,     // round half to even, straight-through gradient
  Floor,     // gradient 0
  Heaviside  // [x >= 0], gradient 0
};

// A unary op and its constants (a, b as in UnaryKind's comments).
struct UnaryOp {
  UnaryKind kind;
  float a = 0.0f, b = 0.0f;
};

// max(x, lo) then min(., hi), written out so that NaN propagates the way std::max/min do on the
// host (the first argument wins when the comparison is false).
GENIE_HOST_DEVICE inline float max_of(float x, float y) { return x < y ? y : x; }
GENIE_HOST_DEVICE inline float min_of(float x, float y) { return y < x ? y : x; }

// Split by sign so that exp never overflows: for x < 0, e^x / (1 + e^x) instead of 1/(1 + e^-x).
GENIE_HOST_DEVICE inline float stable_sigmoid(float x) {
  if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
  float e = expf(x);
  return e / (1.0f + e);
}

GENIE_HOST_DEVICE inline float unary_value(const UnaryOp& op, float x) {
  switch (op.kind) {
    case UnaryKind::Affine:
      return x * op.a + op.b;
    case UnaryKind::Relu:
      return max_of(x, 0.0f);  // max, not a branch: NaN propagates
    case UnaryKind::LeakyRelu:
      return x > 0.0f ? x : op.a * x;
    case UnaryKind::Tanh:
      return tanhf(x);
    case UnaryKind::Sigmoid:
      return stable_sigmoid(x);
    case UnaryKind::Square:
      return x * x;
    case UnaryKind::Sqrt:
      return sqrtf(x);
    case UnaryKind::Abs:
      return fabsf(x);
    case UnaryKind::Pow:
      return powf(x, op.a);  // NaN outside the domain, as in PyTorch
    case UnaryKind::Clamp:
      return min_of(max_of(x, op.a), op.b);
    case UnaryKind::Round:
      return nearbyintf(x);  // half to even under the default mode
    case UnaryKind::Floor:
      return floorf(x);
    case UnaryKind::Heaviside:
      return x >= 0.0f ? 1.0f : 0.0f;
  }
  return x;
}

// dy/dx at x, given y = f(x).
GENIE_HOST_DEVICE inline float unary_derivative(const UnaryOp& op, float x, float y) {
  switch (op.kind) {
    case UnaryKind::Affine:
      return op.a;
    case UnaryKind::Relu:
      return x > 0.0f ? 1.0f : 0.0f;
    case UnaryKind::LeakyRelu:
      return x > 0.0f ? 1.0f : op.a;
    case UnaryKind::Tanh:
      return 1.0f - y * y;
    case UnaryKind::Sigmoid:
      return y * (1.0f - y);
    case UnaryKind::Square:
      return 2.0f * x;
    case UnaryKind::Sqrt:
      return 0.5f / y;
    case UnaryKind::Abs:
      return static_cast<float>((x > 0.0f) - (x < 0.0f));
    // Exponent 0 is special: p * x^(p-1) would give 0 * inf at x = 0.
    case UnaryKind::Pow:
      return op.a == 0.0f ? 0.0f : op.a * powf(x, op.a - 1.0f);
    case UnaryKind::Clamp:
      return op.a <= x && x <= op.b ? 1.0f : 0.0f;
    case UnaryKind::Round:
      return 1.0f;
    case UnaryKind::Floor:
      return 0.0f;
    case UnaryKind::Heaviside:
      return 0.0f;
  }
  return 0.0f;
}

enum class BinaryKind { Add, Sub, Mul, Div };

GENIE_HOST_DEVICE inline float binary_value(BinaryKind kind, float a, float b) {
  switch (kind) {
    case BinaryKind::Add:
      return a + b;
    case BinaryKind::Sub:
      return a - b;
    case BinaryKind::Mul:
      return a * b;
    case BinaryKind::Div:
      return a / b;
  }
  return a;
}

// d out / d a and d out / d b, given out = f(a, b).
GENIE_HOST_DEVICE inline float binary_derivative_a(BinaryKind kind, float, float b, float) {
  switch (kind) {
    case BinaryKind::Add:
      return 1.0f;
    case BinaryKind::Sub:
      return 1.0f;
    case BinaryKind::Mul:
      return b;
    case BinaryKind::Div:
      return 1.0f / b;
  }
  return 0.0f;
}

GENIE_HOST_DEVICE inline float binary_derivative_b(BinaryKind kind, float a, float b, float out) {
  switch (kind) {
    case BinaryKind::Add:
      return 1.0f;
    case BinaryKind::Sub:
      return -1.0f;
    case BinaryKind::Mul:
      return a;
    case BinaryKind::Div:
      return -out / b;
  }
  return 0.0f;
}

// where(mask, a, b) per element, exactly: (m ? a : 0) + (m ? 0 : b).
GENIE_HOST_DEVICE inline float where_value(bool keep_a, float a, float b) {
  return (keep_a ? a : 0.0f) + (keep_a ? 0.0f : b);
}

// GENIE-M's activation fake quantizer q = s * round_ste(clamp(x / s, qn, qp)) with a per-tensor
// step s, one element at a time. Every step is the arithmetic of the op it replaces (div, clamp,
// round_ste, mul), so the fused op computes the composition's bits, its gradients included.
struct FakeQuantizer {
  float step, qn, qp;

  GENIE_HOST_DEVICE float scaled(float x) const { return binary_value(BinaryKind::Div, x, step); }
  GENIE_HOST_DEVICE float code(float scaled_x) const {
    return unary_value({UnaryKind::Round}, unary_value({UnaryKind::Clamp, qn, qp}, scaled_x));
  }
  GENIE_HOST_DEVICE float value(float x) const { return code(scaled(x)) * step; }

  // d loss / d (x / s): dout * s passes round_ste, then clamp inside [qn, qp] (bounds included).
  // Each factor is added to a zero, as each op's backward adds into a fresh gradient, so that a
  // zero stays +0.
  GENIE_HOST_DEVICE float scaled_grad(float dout, float scaled_x) const {
    const float through_round = dout * step + 0.0f;
    return through_round * unary_derivative({UnaryKind::Clamp, qn, qp}, scaled_x, 0.0f) + 0.0f;
  }
  // x's gradient term: d loss / d (x / s) * d (x / s) / dx.
  GENIE_HOST_DEVICE float x_term(float dout, float x) const {
    return scaled_grad(dout, scaled(x)) * (1.0f / step);
  }
  // The step's two terms: through the product (code * s), and through the quotient (x / s).
  GENIE_HOST_DEVICE float step_term_product(float dout, float x) const {
    return dout * code(scaled(x));
  }
  GENIE_HOST_DEVICE float step_term_quotient(float dout, float x) const {
    const float scaled_x = scaled(x);
    return scaled_grad(dout, scaled_x) * (-scaled_x / step);
  }
};

// QDrop on top of the fake quantizer, where(keep_float, x, q): the value, and the shares of the
// gradient that reach x directly and through q, as where's backward leaves them in fresh
// gradients.
GENIE_HOST_DEVICE inline float qdrop_value(bool keep_float, float x, const FakeQuantizer& q) {
  return where_value(keep_float, x, q.value(x));
}
// keep_float is QDrop's byte, 0 or 1, used as a number: a loop over bytes then vectorises.
GENIE_HOST_DEVICE inline float qdrop_float_share(float dout, uint8_t keep_float) {
  return dout * static_cast<float>(keep_float);
}
GENIE_HOST_DEVICE inline float qdrop_quantized_share(float dout, uint8_t keep_float) {
  return dout * (1.0f - static_cast<float>(keep_float)) + 0.0f;
}

// Adam (PyTorch 1.13's _single_tensor_adam, float32 per element; the step-dependent scalars are
// computed once per step in double and rounded).
struct AdamStepScalars {
  float beta1, one_minus_beta1, beta2, one_minus_beta2, weight_decay;
  float step_size;              // lr / (1 - beta1^t)
  float bias_correction2_sqrt;  // sqrt(1 - beta2^t)
  float eps;
};

// g + wd * p, PyTorch's grad.add(param, alpha=weight_decay).
GENIE_HOST_DEVICE inline float decayed_grad(float g, float p, float weight_decay) {
  return g + weight_decay * p;
}

GENIE_HOST_DEVICE inline void adam_element(float& param, float& m, float& v, float grad,
                                           const AdamStepScalars& s) {
  float g = decayed_grad(grad, param, s.weight_decay);
  m = m * s.beta1 + s.one_minus_beta1 * g;
  v = v * s.beta2 + s.one_minus_beta2 * g * g;
  float denom = sqrtf(v) / s.bias_correction2_sqrt + s.eps;
  param = param + -s.step_size * m / denom;
}

}  // namespace engine
