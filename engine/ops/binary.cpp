// Binary elementwise ops with broadcasting: add, sub, mul, div, where, random_where.
//
// Forward: out[i] = f(a[ia], b[ib]) through the broadcast index maps (broadcast.h).
// Backward: the gradient of a broadcast input is the sum of out's gradient over the elements
// that read it, so each backward walks the same index maps and accumulates with +=.
#include <cstdint>
#include <memory>

#include "engine/autograd.h"
#include "engine/kernels.h"
#include "engine/ops.h"
#include "engine/ops/broadcast.h"
#include "engine/rng.h"

namespace engine {

namespace {

Tensor binary_op(const Tensor& a, const Tensor& b, BinaryKind kind) {
  Device device = same_device("binary op", {a, b});
  Shape shape = broadcast_shape(a.shape(), b.shape());
  Tensor out = Tensor::uninitialized(shape, device);
  BroadcastIndex ia(a.shape(), shape), ib(b.shape(), shape);
  GENIE_KERNEL(device, binary_forward)(kind, out.data(), a.data(), b.data(), ia, ib, out.numel());
  record(out, {a, b}, [a, b, o = out.node(), ia, ib, kind]() {
    for (bool wrt_b : {false, true}) {
      const Tensor& input = wrt_b ? b : a;
      if (!input.requires_grad()) continue;
      GENIE_KERNEL(o->device(), binary_backward)
      (kind, wrt_b, input.grad(), o->gradient(), a.data(), b.data(), o->values(), ia, ib,
       numel_of(o->shape));
    }
  });
  return out;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) { return binary_op(a, b, BinaryKind::Add); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary_op(a, b, BinaryKind::Sub); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary_op(a, b, BinaryKind::Mul); }
Tensor div(const Tensor& a, const Tensor& b) { return binary_op(a, b, BinaryKind::Div); }

namespace {

// where(keep, a, b) = a * m + b * (1 - m) with m = keep (one byte per output element), computed
// exactly (elementwise.h's where_value); keep is held for the backward.
Tensor select(const std::shared_ptr<Storage>& keep, const Tensor& a, const Tensor& b,
              const Shape& shape) {
  Tensor out = Tensor::uninitialized(shape, a.device());
  BroadcastIndex ia(a.shape(), shape), ib(b.shape(), shape);
  GENIE_KERNEL(a.device(), where_forward)
  (out.data(), keep->as<uint8_t>(), a.data(), b.data(), ia, ib, out.numel());
  record(out, {a, b}, [keep, a, b, o = out.node(), ia, ib]() {
    for (bool wrt_b : {false, true}) {
      const Tensor& input = wrt_b ? b : a;
      if (!input.requires_grad()) continue;
      GENIE_KERNEL(o->device(), where_backward)
      (wrt_b, input.grad(), o->gradient(), keep->as<uint8_t>(), ia, ib, numel_of(o->shape));
    }
  });
  return out;
}

}  // namespace

Tensor where(const Tensor& mask, const Tensor& a, const Tensor& b) {
  Device device = same_device("where", {mask, a, b});
  Shape shape = broadcast_shape(mask.shape(), broadcast_shape(a.shape(), b.shape()));
  auto keep = std::make_shared<Storage>(device, static_cast<size_t>(numel_of(shape)));
  GENIE_KERNEL(device, where_keep)
  (keep->as<uint8_t>(), mask.data(), BroadcastIndex(mask.shape(), shape), numel_of(shape));
  return select(keep, a, b, shape);
}

Tensor random_where(float p_a, Rng& rng, const Tensor& a, const Tensor& b) {
  Device device = same_device("random_where", {a, b});
  Shape shape = broadcast_shape(a.shape(), b.shape());
  return select(bernoulli_mask(numel_of(shape), p_a, rng, device), a, b, shape);
}

}  // namespace engine
