// Unary elementwise ops: activations, powers, clamping and rounding, and the scalar affine ops.
//
// Shapes: out has x's shape. Each op is a UnaryOp (engine/elementwise.h, where the value and
// the local derivative of each are written once for every backend); one forward and one backward
// kernel serve them all.
#include <stdexcept>
#include <string>

#include "engine/autograd.h"
#include "engine/kernels.h"
#include "engine/ops.h"

namespace engine {

namespace {

Tensor unary_op(const Tensor& x, UnaryOp op) {
  Tensor out = Tensor::uninitialized(x.shape(), x.device());
  GENIE_KERNEL(x.device(), unary_forward)(op, out.data(), x.data(), x.numel());
  record(out, {x}, [x, o = out.node(), op]() {
    GENIE_KERNEL(x.device(), unary_backward)
    (op, x.grad(), o->gradient(), x.data(), o->values(), x.numel());
  });
  return out;
}

}  // namespace

Tensor add_scalar(const Tensor& x, float c) { return unary_op(x, {UnaryKind::Affine, 1.0f, c}); }
Tensor mul_scalar(const Tensor& x, float c) { return unary_op(x, {UnaryKind::Affine, c, 0.0f}); }
Tensor relu(const Tensor& x) { return unary_op(x, {UnaryKind::Relu}); }
Tensor leaky_relu(const Tensor& x, float negative_slope) {
  return unary_op(x, {UnaryKind::LeakyRelu, negative_slope});
}
Tensor tanh(const Tensor& x) { return unary_op(x, {UnaryKind::Tanh}); }
Tensor sigmoid(const Tensor& x) { return unary_op(x, {UnaryKind::Sigmoid}); }
Tensor square(const Tensor& x) { return unary_op(x, {UnaryKind::Square}); }
Tensor sqrt(const Tensor& x) { return unary_op(x, {UnaryKind::Sqrt}); }
Tensor abs(const Tensor& x) { return unary_op(x, {UnaryKind::Abs}); }
Tensor pow(const Tensor& x, float exponent) { return unary_op(x, {UnaryKind::Pow, exponent}); }

Tensor clamp(const Tensor& x, float lo, float hi) {
  if (!(lo <= hi))
    throw std::invalid_argument("clamp of " + shape_str(x.shape()) + " needs lo <= hi, got lo " +
                                std::to_string(lo) + " hi " + std::to_string(hi));
  return unary_op(x, {UnaryKind::Clamp, lo, hi});
}

Tensor round_ste(const Tensor& x) { return unary_op(x, {UnaryKind::Round}); }
Tensor floor(const Tensor& x) { return unary_op(x, {UnaryKind::Floor}); }
Tensor heaviside(const Tensor& x) { return unary_op(x, {UnaryKind::Heaviside}); }

}  // namespace engine
