// CPU kernels of the elementwise ops: memory fills and copies, unary ops, binary ops with
// broadcasting, and where. The arithmetic is engine/elementwise.h's; this file only loops.
//
// Same-shape loops run in parallel (each output element has its own inputs). A broadcast input
// walks its index map in output order on one thread, so its gradient sums are deterministic.
#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "engine/kernels.h"

namespace engine::cpu {

namespace {

bool worth_threads(int64_t n) { return n > 65536; }

// Calls body with the unary kind as a compile-time constant. Loops build their UnaryOp from it
// inside the loop body, so that the switch in unary_value folds away there: a kind read from
// memory inside an OpenMP region would keep the switch, and with it the multiply and the add of
// `dx += dout * derivative` in separate blocks that the compiler no longer fuses into one FMA.
template <class Body>
void with_unary_kind(UnaryKind kind, Body body) {
  using K = UnaryKind;
  switch (kind) {
    case K::Affine: return body(std::integral_constant<K, K::Affine>{});
    case K::Relu: return body(std::integral_constant<K, K::Relu>{});
    case K::LeakyRelu: return body(std::integral_constant<K, K::LeakyRelu>{});
    case K::Tanh: return body(std::integral_constant<K, K::Tanh>{});
    case K::Sigmoid: return body(std::integral_constant<K, K::Sigmoid>{});
    case K::Square: return body(std::integral_constant<K, K::Square>{});
    case K::Sqrt: return body(std::integral_constant<K, K::Sqrt>{});
    case K::Abs: return body(std::integral_constant<K, K::Abs>{});
    case K::Pow: return body(std::integral_constant<K, K::Pow>{});
    case K::Clamp: return body(std::integral_constant<K, K::Clamp>{});
    case K::Round: return body(std::integral_constant<K, K::Round>{});
    case K::Floor: return body(std::integral_constant<K, K::Floor>{});
    case K::Heaviside: return body(std::integral_constant<K, K::Heaviside>{});
  }
}

template <class Body>
void with_binary_kind(BinaryKind kind, Body body) {
  using K = BinaryKind;
  switch (kind) {
    case K::Add: return body(std::integral_constant<K, K::Add>{});
    case K::Sub: return body(std::integral_constant<K, K::Sub>{});
    case K::Mul: return body(std::integral_constant<K, K::Mul>{});
    case K::Div: return body(std::integral_constant<K, K::Div>{});
  }
}

// Calls f(i, index read in a, index read in b) for every output element i, in order. The
// common cases (same shapes, one input broadcast) walk one index map; only when both inputs
// are broadcast is one map stored.
template <class F>
void for_each_element(const BroadcastIndex& ia, const BroadcastIndex& ib, int64_t n, F f) {
  if (ia.identity() && ib.identity()) {
    // Each thread its own copy of f, whose captured pointers then stay in registers.
#pragma omp parallel for schedule(static) firstprivate(f) if (worth_threads(n))
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

}  // namespace

void fill(float* out, int64_t n, float value) { std::fill(out, out + n, value); }

void copy(float* out, const float* x, int64_t n) {
  if (n > 0) std::memcpy(out, x, n * sizeof(float));
}

void accumulate(float* out, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] += x[i];
}

void unary_forward(const UnaryOp& op, float* out, const float* x, int64_t n) {
  const float a = op.a, b = op.b;
  with_unary_kind(op.kind, [&](auto kind) {
#pragma omp parallel for schedule(static) if (worth_threads(n))
    for (int64_t i = 0; i < n; ++i) out[i] = unary_value({kind, a, b}, x[i]);
  });
}

// dx += dout * df(x, out)
void unary_backward(const UnaryOp& op, float* dx, const float* dout, const float* x,
                    const float* out, int64_t n) {
  const float a = op.a, b = op.b;
  with_unary_kind(op.kind, [&](auto kind) {
#pragma omp parallel for schedule(static) if (worth_threads(n))
    for (int64_t i = 0; i < n; ++i) dx[i] += dout[i] * unary_derivative({kind, a, b}, x[i], out[i]);
  });
}

void binary_forward(BinaryKind kind, float* out, const float* a, const float* b,
                    const BroadcastIndex& ia, const BroadcastIndex& ib, int64_t n) {
  with_binary_kind(kind, [&](auto k) {
    for_each_element(ia, ib, n, [=](int64_t i, int64_t j, int64_t l) {
      out[i] = binary_value(decltype(k)::value, a[j], b[l]);
    });
  });
}

void binary_backward(BinaryKind kind, bool wrt_b, float* grad, const float* dout, const float* a,
                     const float* b, const float* out, const BroadcastIndex& ia,
                     const BroadcastIndex& ib, int64_t n) {
  with_binary_kind(kind, [&](auto k) {
    constexpr BinaryKind K = decltype(k)::value;
    if (wrt_b)
      for_each_element(ia, ib, n, [=](int64_t i, int64_t j, int64_t l) {
        grad[l] += dout[i] * binary_derivative_b(K, a[j], b[l], out[i]);
      });
    else
      for_each_element(ia, ib, n, [=](int64_t i, int64_t j, int64_t l) {
        grad[j] += dout[i] * binary_derivative_a(K, a[j], b[l], out[i]);
      });
  });
}

void where_forward(float* out, uint8_t* keep, const float* mask, const float* a, const float* b,
                   const BroadcastIndex& im, const BroadcastIndex& ia, const BroadcastIndex& ib,
                   int64_t n) {
  im.for_each([&](int64_t i, int64_t j) { keep[i] = mask[j] != 0.0f; });
  for_each_element(ia, ib, n, [=](int64_t i, int64_t j, int64_t l) {
    out[i] = where_value(keep[i], a[j], b[l]);
  });
}

// a's gradient is the output's times keep, b's times 1 - keep.
void where_backward(bool wrt_b, float* grad, const float* dout, const uint8_t* keep,
                    const BroadcastIndex& ia, const BroadcastIndex& ib, int64_t n) {
  if (wrt_b)
    for_each_element(ia, ib, n, [=](int64_t i, int64_t, int64_t l) {
      grad[l] += dout[i] * (keep[i] ? 0.0f : 1.0f);
    });
  else
    for_each_element(ia, ib, n, [=](int64_t i, int64_t j, int64_t) {
      grad[j] += dout[i] * (keep[i] ? 1.0f : 0.0f);
    });
}

}  // namespace engine::cpu
