// Binary elementwise ops with broadcasting: add, sub, mul, div, where.
//
// Forward: out[i] = f(a[ia], b[ib]) through the broadcast index maps.
// Backward: the gradient of a broadcast input is the sum of out's gradient over the elements
// that read it, so each backward walks the same index maps and accumulates with +=.
#include <stdexcept>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/ops/broadcast.h"

namespace engine {

namespace {

// Applies out = f(a, b) and records the backward given the local derivatives da(a, b, out) and
// db(a, b, out).
template <class F, class DA, class DB>
Tensor binary_op(const Tensor& a, const Tensor& b, F f, DA da, DB db) {
  Shape shape = broadcast_shape(a.shape(), b.shape());
  Tensor out(shape);
  BroadcastIndex ia(a.shape(), shape), ib(b.shape(), shape);
  const float *pa = a.data(), *pb = b.data();
  float* po = out.data();
  if (ia.identity() && ib.identity()) {
    int64_t n = out.numel();
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; ++i) po[i] = f(pa[i], pb[i]);
  } else {
    std::vector<int64_t> jb(out.numel());
    ib.for_each([&](int64_t i, int64_t j) { jb[i] = j; });
    ia.for_each([&](int64_t i, int64_t j) { po[i] = f(pa[j], pb[jb[i]]); });
  }
  record(out, {a, b}, [a, b, o = out.node(), ia, ib, da, db]() mutable {
    const float *pa = a.data(), *pb = b.data(), *g = o->grad.data(), *po = o->data->data();
    std::vector<int64_t> ja(o->data->size()), jb(o->data->size());
    ia.for_each([&](int64_t i, int64_t j) { ja[i] = j; });
    ib.for_each([&](int64_t i, int64_t j) { jb[i] = j; });
    int64_t n = static_cast<int64_t>(ja.size());
    if (a.requires_grad()) {
      float* ga = a.grad();
      for (int64_t i = 0; i < n; ++i) ga[ja[i]] += g[i] * da(pa[ja[i]], pb[jb[i]], po[i]);
    }
    if (b.requires_grad()) {
      float* gb = b.grad();
      for (int64_t i = 0; i < n; ++i) gb[jb[i]] += g[i] * db(pa[ja[i]], pb[jb[i]], po[i]);
    }
  });
  return out;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  return binary_op(
      a, b, [](float x, float y) { return x + y; }, [](float, float, float) { return 1.0f; },
      [](float, float, float) { return 1.0f; });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  return binary_op(
      a, b, [](float x, float y) { return x - y; }, [](float, float, float) { return 1.0f; },
      [](float, float, float) { return -1.0f; });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  return binary_op(
      a, b, [](float x, float y) { return x * y; }, [](float, float y, float) { return y; },
      [](float x, float, float) { return x; });
}

Tensor div(const Tensor& a, const Tensor& b) {
  return binary_op(
      a, b, [](float x, float y) { return x / y; }, [](float, float y, float) { return 1.0f / y; },
      [](float, float y, float q) { return -q / y; });
}

Tensor where(const Tensor& mask, const Tensor& a, const Tensor& b) {
  Shape shape = broadcast_shape(mask.shape(), broadcast_shape(a.shape(), b.shape()));
  // Broadcast mask to the output, then pick elementwise: where = a * m + b * (1 - m) with the
  // mask taken as 0/1, computed exactly rather than with arithmetic.
  Tensor m(shape);
  BroadcastIndex im(mask.shape(), shape);
  im.for_each([&](int64_t i, int64_t j) { m.data()[i] = mask.data()[j] != 0.0f ? 1.0f : 0.0f; });
  Tensor picked_a = binary_op(
      m, a, [](float keep, float x) { return keep != 0.0f ? x : 0.0f; },
      [](float, float, float) { return 0.0f; },
      [](float keep, float, float) { return keep != 0.0f ? 1.0f : 0.0f; });
  Tensor picked_b = binary_op(
      m, b, [](float keep, float y) { return keep != 0.0f ? 0.0f : y; },
      [](float, float, float) { return 0.0f; },
      [](float keep, float, float) { return keep != 0.0f ? 0.0f : 1.0f; });
  return add(picked_a, picked_b);
}

}  // namespace engine
