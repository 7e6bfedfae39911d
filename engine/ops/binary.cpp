// Binary elementwise ops with broadcasting: add, sub, mul, div, where.
//
// Forward: out[i] = f(a[ia], b[ib]) through the broadcast index maps.
// Backward: the gradient of a broadcast input is the sum of out's gradient over the elements
// that read it, so each backward walks the same index maps and accumulates with +=.
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/ops/broadcast.h"

namespace engine {

namespace {

// Calls f(i, index read in a, index read in b) for every output element i, in order. The
// common cases (same shapes, one input broadcast) walk one index map; only when both inputs
// are broadcast is one map stored.
template <class F>
void for_each_element(const BroadcastIndex& ia, const BroadcastIndex& ib, int64_t n, F f) {
  if (ia.identity() && ib.identity()) {
    // Each thread its own copy of f, whose captured pointers then stay in registers.
#pragma omp parallel for schedule(static) firstprivate(f) if (n > 65536)
    for (int64_t i = 0; i < n; ++i) f(i, i, i);
  } else if (ia.identity()) {
    ib.for_each([&](int64_t i, int64_t j) { f(i, i, j); });
  } else if (ib.identity()) {
    ia.for_each([&](int64_t i, int64_t j) { f(i, j, i); });
  } else {
    std::vector<int64_t> jb(n);
    ib.for_each([&](int64_t i, int64_t j) { jb[i] = j; });
    ia.for_each([&](int64_t i, int64_t j) { f(i, j, jb[i]); });
  }
}

// Applies out = f(a, b) and records the backward given the local derivatives da(a, b, out) and
// db(a, b, out). With the same shapes each output element has its own input elements, so the
// loops run in parallel; a broadcast input accumulates in output order on one thread.
template <class F, class DA, class DB>
Tensor binary_op(const Tensor& a, const Tensor& b, F f, DA da, DB db) {
  Shape shape = broadcast_shape(a.shape(), b.shape());
  Tensor out(shape);
  BroadcastIndex ia(a.shape(), shape), ib(b.shape(), shape);
  const float *pa = a.data(), *pb = b.data();
  float* po = out.data();
  for_each_element(ia, ib, out.numel(),
                   [=](int64_t i, int64_t j, int64_t k) { po[i] = f(pa[j], pb[k]); });
  record(out, {a, b}, [a, b, o = out.node(), ia, ib, da, db]() mutable {
    const float *pa = a.data(), *pb = b.data(), *g = o->grad.data(), *po = o->data->data();
    const int64_t n = static_cast<int64_t>(o->grad.size());
    if (a.requires_grad()) {
      float* ga = a.grad();
      for_each_element(ia, ib, n, [=](int64_t i, int64_t j, int64_t k) {
        ga[j] += g[i] * da(pa[j], pb[k], po[i]);
      });
    }
    if (b.requires_grad()) {
      float* gb = b.grad();
      for_each_element(ia, ib, n, [=](int64_t i, int64_t j, int64_t k) {
        gb[k] += g[i] * db(pa[j], pb[k], po[i]);
      });
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

// where(mask, a, b) = a * m + b * (1 - m) with m = [mask != 0] on the output's shape, computed
// exactly: each element is (m ? a : 0) + (m ? 0 : b); a's gradient is the output's times m,
// b's times 1 - m, accumulated like binary_op's.
Tensor where(const Tensor& mask, const Tensor& a, const Tensor& b) {
  Shape shape = broadcast_shape(mask.shape(), broadcast_shape(a.shape(), b.shape()));
  std::vector<uint8_t> keep(numel_of(shape));
  BroadcastIndex(mask.shape(), shape).for_each([&](int64_t i, int64_t j) {
    keep[i] = mask.data()[j] != 0.0f;
  });
  Tensor out(shape);
  BroadcastIndex ia(a.shape(), shape), ib(b.shape(), shape);
  const float *pa = a.data(), *pb = b.data();
  float* po = out.data();
  const uint8_t* kept = keep.data();
  for_each_element(ia, ib, out.numel(), [=](int64_t i, int64_t j, int64_t k) {
    po[i] = (kept[i] ? pa[j] : 0.0f) + (kept[i] ? 0.0f : pb[k]);
  });
  record(out, {a, b}, [keep = std::move(keep), a, b, o = out.node(), ia, ib]() mutable {
    const float* g = o->grad.data();
    const uint8_t* kept = keep.data();
    const int64_t n = static_cast<int64_t>(o->grad.size());
    if (a.requires_grad()) {
      float* ga = a.grad();
      for_each_element(ia, ib, n, [=](int64_t i, int64_t j, int64_t) {
        ga[j] += g[i] * (kept[i] ? 1.0f : 0.0f);
      });
    }
    if (b.requires_grad()) {
      float* gb = b.grad();
      for_each_element(ia, ib, n, [=](int64_t i, int64_t, int64_t k) {
        gb[k] += g[i] * (kept[i] ? 0.0f : 1.0f);
      });
    }
  });
  return out;
}

}  // namespace engine
