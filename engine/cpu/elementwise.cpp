// CPU kernels of the elementwise ops: memory fills and copies, unary ops, binary ops with
// broadcasting, and where. The arithmetic is engine/elementwise.h's; this file only loops.
//
// Loops that write per output element run in parallel. The gradient of a broadcast input sums
// each of its elements' terms in output order (in parallel across elements when it is per
// channel), so its bits do not depend on the thread count.
#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "engine/kernels.h"
#include "engine/threads.h"

#include <omp.h>

namespace engine::cpu {

namespace {

// Calls body with the unary kind as a compile-time constant. Loops build their UnaryOp from it
// inside the loop body, so that the switch in unary_value folds away there: a kind read from
// memory inside an OpenMP region would keep the switch, and with it the multiply and the add of
// `dx += dout * derivative` in separate blocks that the compiler no longer fuses into one FMA.
template <class Body>
void with_unary_kind(UnaryKind kind, Body body) {
  using K = UnaryKind;
  // clang-format off
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
  // clang-format on
}

template <class Body>
void with_binary_kind(BinaryKind kind, Body body) {
  using K = BinaryKind;
  // clang-format off
  switch (kind) {
    case K::Add: return body(std::integral_constant<K, K::Add>{});
    case K::Sub: return body(std::integral_constant<K, K::Sub>{});
    case K::Mul: return body(std::integral_constant<K, K::Mul>{});
    case K::Div: return body(std::integral_constant<K, K::Div>{});
  }
  // clang-format on
}

// body(begin, end) over [0, n), split into one contiguous range per thread when n is large.
template <class Body>
void parallel_ranges(int64_t n, Body body) {
  if (!worth_threads(n)) {
    body(int64_t{0}, n);
    return;
  }
#pragma omp parallel
  {
    const int64_t t = omp_get_thread_num(), threads = omp_get_num_threads();
    body(n * t / threads, n * (t + 1) / threads);
  }
}

// Calls f(i, index read in a, index read in b) for every output element i, in order, on one
// thread, with b's index map stored: the rare case where both inputs are broadcast.
template <class F>
void for_each_in_order(const BroadcastIndex& ia, const BroadcastIndex& ib, int64_t n, F f) {
  std::vector<int64_t> jb(n);
  ib.for_each([&](int64_t i, int64_t j) { jb[i] = j; });
  ia.for_each([&](int64_t i, int64_t j) { f(i, j, jb[i]); });
}

// Calls f(i, index read in a, index read in b) for every output element i, where f writes
// only what belongs to element i (an output, or the gradient of an input read one-to-one): the
// threads split the elements, and the bits do not depend on how. When both inputs are
// broadcast, the loop is for_each_in_order's.
template <class F>
void for_each_output(const BroadcastIndex& ia, const BroadcastIndex& ib, int64_t n, F f) {
  if (!ia.identity() && !ib.identity()) {
    for_each_in_order(ia, ib, n, f);
    return;
  }
  parallel_ranges(n, [&](int64_t begin, int64_t end) {
    F g = f;  // each thread's own copy, whose captured pointers then stay in registers
    if (ia.identity())
      ib.for_each(begin, end, [&](int64_t i, int64_t l) { g(i, i, l); });
    else
      ia.for_each(begin, end, [&](int64_t i, int64_t j) { g(i, j, i); });
  });
}

// grad[t] += term(i, j, l) for every output element i, where t is the element of the broadcast
// input whose gradient this is (j in a, or l in b when into_b) and the other input is read
// one-to-one. Each grad element sums its terms in output order, each term rounded to float
// before it is added (no fused multiply-add), as the serial loop before it did; when the input is
// broadcast per channel, the threads split the channels, never one channel's sum, so the bits
// do not depend on the thread count.
template <bool into_b, class Term>
__attribute__((optimize("fp-contract=off"))) void reduce_into(float* grad,
                                                              const BroadcastIndex& into, int64_t n,
                                                              Term term) {
  const int64_t outer = into.outer(), mid = into.mid(), inner = into.inner();
#pragma omp parallel for schedule(static) if (mid > 1 && worth_threads(n))
  for (int64_t m = 0; m < mid; ++m) {
    float acc = grad[m];
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = (o * mid + m) * inner, end = i + inner; i < end; ++i)
        if constexpr (into_b)
          acc += term(i, i, m);
        else
          acc += term(i, m, i);
    grad[m] = acc;
  }
}

// Adds d out / d a (into a) or d out / d b (into b): grad[t] += term(i, j, l) for every output
// element i, t being i's index in that input.
template <bool into_b, class Term>
void add_into(float* grad, const BroadcastIndex& ia, const BroadcastIndex& ib, int64_t n,
              Term term) {
  const BroadcastIndex& into = into_b ? ib : ia;
  const BroadcastIndex& other = into_b ? ia : ib;
  if (into.identity()) {
    for_each_output(ia, ib, n, [=](int64_t i, int64_t j, int64_t l) { grad[i] += term(i, j, l); });
  } else if (other.identity() && into.blocked()) {
    reduce_into<into_b>(grad, into, n, term);
  } else {  // both inputs broadcast
    for_each_in_order(
        ia, ib, n, [=](int64_t i, int64_t j, int64_t l) { grad[into_b ? l : j] += term(i, j, l); });
  }
}

}  // namespace

void fill(float* out, int64_t n, float value) {
  parallel_ranges(n, [=](int64_t begin, int64_t end) { std::fill(out + begin, out + end, value); });
}

void copy(float* out, const float* x, int64_t n) {
  parallel_ranges(n, [=](int64_t begin, int64_t end) {
    if (end > begin) std::memcpy(out + begin, x + begin, (end - begin) * sizeof(float));
  });
}

void accumulate(float* out, const float* x, int64_t n) {
#pragma omp parallel for schedule(static) if (worth_threads(n))
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
    for_each_output(ia, ib, n, [=](int64_t i, int64_t j, int64_t l) {
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
      add_into<true>(grad, ia, ib, n, [=](int64_t i, int64_t j, int64_t l) {
        return dout[i] * binary_derivative_b(K, a[j], b[l], out[i]);
      });
    else
      add_into<false>(grad, ia, ib, n, [=](int64_t i, int64_t j, int64_t l) {
        return dout[i] * binary_derivative_a(K, a[j], b[l], out[i]);
      });
  });
}

void where_keep(uint8_t* keep, const float* mask, const BroadcastIndex& im, int64_t n) {
  parallel_ranges(n, [&](int64_t begin, int64_t end) {
    im.for_each(begin, end, [&](int64_t i, int64_t j) { keep[i] = mask[j] != 0.0f; });
  });
}

void where_forward(float* out, const uint8_t* keep, const float* a, const float* b,
                   const BroadcastIndex& ia, const BroadcastIndex& ib, int64_t n) {
  for_each_output(ia, ib, n, [=](int64_t i, int64_t j, int64_t l) {
    out[i] = where_value(keep[i], a[j], b[l]);
  });
}

// a's gradient is the output's times keep, b's times 1 - keep.
void where_backward(bool wrt_b, float* grad, const float* dout, const uint8_t* keep,
                    const BroadcastIndex& ia, const BroadcastIndex& ib, int64_t n) {
  if (wrt_b)
    add_into<true>(grad, ia, ib, n,
                   [=](int64_t i, int64_t, int64_t) { return dout[i] * (keep[i] ? 0.0f : 1.0f); });
  else
    add_into<false>(grad, ia, ib, n,
                    [=](int64_t i, int64_t, int64_t) { return dout[i] * (keep[i] ? 1.0f : 0.0f); });
}

}  // namespace engine::cpu
