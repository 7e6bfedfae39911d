// Elementwise kernels: fill, copy, accumulate, the unary and binary ops, where.
//
// One thread per output element (grid-stride), with the arithmetic from engine/elementwise.h.
// Unary and binary kernels are instantiated per kind, so the switch in the arithmetic folds
// away. The gradient of an input that is broadcast is a sum over the outputs that read each of
// its elements: reduce_each gives each input element one block summing them in a fixed order;
// an input that is not broadcast is one thread per element.
#include <type_traits>

#include "engine/cuda/index_map.cuh"
#include "engine/cuda/launch.cuh"
#include "engine/cuda/reduce.cuh"
#include "engine/kernels.h"

namespace engine::cuda {

namespace {

struct Fill {
  float* out;
  float value;
  __device__ void operator()(int64_t i) const { out[i] = value; }
};

struct Copy {
  float* out;
  const float* x;
  __device__ void operator()(int64_t i) const { out[i] = x[i]; }
};

struct Accumulate {
  float* out;
  const float* x;
  __device__ void operator()(int64_t i) const { out[i] += x[i]; }
};

template <UnaryKind K>
struct UnaryForward {
  float a, b;
  float* out;
  const float* x;
  __device__ void operator()(int64_t i) const { out[i] = unary_value(UnaryOp{K, a, b}, x[i]); }
};

template <UnaryKind K>
struct UnaryBackward {
  float a, b;
  float* dx;
  const float *dout, *x, *out;
  __device__ void operator()(int64_t i) const {
    dx[i] += dout[i] * unary_derivative(UnaryOp{K, a, b}, x[i], out[i]);
  }
};

// Calls f(std::integral_constant<UnaryKind, kind>()): the kind as a compile-time constant.
template <class F>
void with_unary_kind(UnaryKind kind, F f) {
  using K = UnaryKind;
  switch (kind) {
    case K::Affine:
      return f(std::integral_constant<K, K::Affine>());
    case K::Relu:
      return f(std::integral_constant<K, K::Relu>());
    case K::LeakyRelu:
      return f(std::integral_constant<K, K::LeakyRelu>());
    case K::Tanh:
      return f(std::integral_constant<K, K::Tanh>());
    case K::Sigmoid:
      return f(std::integral_constant<K, K::Sigmoid>());
    case K::Square:
      return f(std::integral_constant<K, K::Square>());
    case K::Sqrt:
      return f(std::integral_constant<K, K::Sqrt>());
    case K::Abs:
      return f(std::integral_constant<K, K::Abs>());
    case K::Pow:
      return f(std::integral_constant<K, K::Pow>());
    case K::Clamp:
      return f(std::integral_constant<K, K::Clamp>());
    case K::Round:
      return f(std::integral_constant<K, K::Round>());
    case K::Floor:
      return f(std::integral_constant<K, K::Floor>());
    case K::Heaviside:
      return f(std::integral_constant<K, K::Heaviside>());
  }
  throw std::invalid_argument("cuda: unknown unary op");
}

template <class F>
void with_binary_kind(BinaryKind kind, F f) {
  using K = BinaryKind;
  switch (kind) {
    case K::Add:
      return f(std::integral_constant<K, K::Add>());
    case K::Sub:
      return f(std::integral_constant<K, K::Sub>());
    case K::Mul:
      return f(std::integral_constant<K, K::Mul>());
    case K::Div:
      return f(std::integral_constant<K, K::Div>());
  }
  throw std::invalid_argument("cuda: unknown binary op");
}

template <BinaryKind K>
struct BinaryForward {
  float* out;
  const float *a, *b;
  IndexMap ia, ib;
  __device__ void operator()(int64_t i) const { out[i] = binary_value(K, a[ia(i)], b[ib(i)]); }
};

// What output element i contributes to the gradient of a (or b): dout * d out / d a (or b).
template <BinaryKind K, bool WrtB>
struct BinaryGradTerm {
  const float *dout, *a, *b, *out;
  IndexMap ia, ib;
  __device__ float operator()(int64_t i) const {
    float x = a[ia(i)], y = b[ib(i)];
    return dout[i] *
           (WrtB ? binary_derivative_b(K, x, y, out[i]) : binary_derivative_a(K, x, y, out[i]));
  }
};

struct WhereKeep {
  uint8_t* keep;
  const float* mask;
  IndexMap im;
  __device__ void operator()(int64_t i) const { keep[i] = mask[im(i)] != 0.0f; }
};

struct WhereForward {
  float* out;
  const uint8_t* keep;
  const float *a, *b;
  IndexMap ia, ib;
  __device__ void operator()(int64_t i) const { out[i] = where_value(keep[i], a[ia(i)], b[ib(i)]); }
};

struct WhereGradTerm {
  const float* dout;
  const uint8_t* keep;
  bool wrt_b;
  __device__ float operator()(int64_t i) const {
    return dout[i] * ((keep[i] != 0) != wrt_b ? 1.0f : 0.0f);
  }
};

// grad[i] += term(i), for an input read once per output element.
template <class Term>
struct AddTerm {
  float* grad;
  Term term;
  __device__ void operator()(int64_t i) const { grad[i] += term(i); }
};

// The terms of the output elements that read small element j.
template <class Term>
struct FaninTerms {
  Fanin fanin;
  Term term;
  __device__ double operator()(int64_t j, int64_t k) const { return term(fanin.large_index(j, k)); }
};

struct AddTotal {
  float* grad;
  __device__ void operator()(int64_t j, double total) const {
    grad[j] += static_cast<float>(total);
  }
};

// grad (the input that `map` reads from the n outputs) += the sum of term over its readers.
template <class Term>
void add_input_gradient(const char* kernel, float* grad, const BroadcastIndex& map, int64_t n,
                        const Term& term) {
  Fanin f = fanin(map);
  // Read once per output (the shapes differ by size-1 dims at most): then grad[i] pairs with i.
  if (f.fan == 1) return for_each_index(kernel, n, AddTerm<Term>{grad, term});
  reduce_each(kernel, f.small_count, f.fan, FaninTerms<Term>{f, term}, AddTotal{grad});
}

}  // namespace

void fill(float* out, int64_t n, float value) { for_each_index("fill", n, Fill{out, value}); }

void copy(float* out, const float* x, int64_t n) { for_each_index("copy", n, Copy{out, x}); }

void accumulate(float* out, const float* x, int64_t n) {
  for_each_index("accumulate", n, Accumulate{out, x});
}

void unary_forward(const UnaryOp& op, float* out, const float* x, int64_t n) {
  with_unary_kind(op.kind, [&](auto kind) {
    for_each_index("unary_forward", n, UnaryForward<decltype(kind)::value>{op.a, op.b, out, x});
  });
}

void unary_backward(const UnaryOp& op, float* dx, const float* dout, const float* x,
                    const float* out, int64_t n) {
  with_unary_kind(op.kind, [&](auto kind) {
    for_each_index("unary_backward", n,
                   UnaryBackward<decltype(kind)::value>{op.a, op.b, dx, dout, x, out});
  });
}

void binary_forward(BinaryKind kind, float* out, const float* a, const float* b,
                    const BroadcastIndex& ia, const BroadcastIndex& ib, int64_t n) {
  with_binary_kind(kind, [&](auto k) {
    for_each_index("binary_forward", n,
                   BinaryForward<decltype(k)::value>{out, a, b, index_map(ia), index_map(ib)});
  });
}

void binary_backward(BinaryKind kind, bool wrt_b, float* grad, const float* dout, const float* a,
                     const float* b, const float* out, const BroadcastIndex& ia,
                     const BroadcastIndex& ib, int64_t n) {
  if (!grad) return;
  with_binary_kind(kind, [&](auto k) {
    constexpr BinaryKind K = decltype(k)::value;
    const IndexMap ma = index_map(ia), mb = index_map(ib);
    if (wrt_b)
      add_input_gradient("binary_backward", grad, ib, n,
                         BinaryGradTerm<K, true>{dout, a, b, out, ma, mb});
    else
      add_input_gradient("binary_backward", grad, ia, n,
                         BinaryGradTerm<K, false>{dout, a, b, out, ma, mb});
  });
}

void where_keep(uint8_t* keep, const float* mask, const BroadcastIndex& im, int64_t n) {
  for_each_index("where_keep", n, WhereKeep{keep, mask, index_map(im)});
}

void where_forward(float* out, const uint8_t* keep, const float* a, const float* b,
                   const BroadcastIndex& ia, const BroadcastIndex& ib, int64_t n) {
  for_each_index("where_forward", n, WhereForward{out, keep, a, b, index_map(ia), index_map(ib)});
}

void where_backward(bool wrt_b, float* grad, const float* dout, const uint8_t* keep,
                    const BroadcastIndex& ia, const BroadcastIndex& ib, int64_t n) {
  if (!grad) return;
  add_input_gradient("where_backward", grad, wrt_b ? ib : ia, n, WhereGradTerm{dout, keep, wrt_b});
}

}  // namespace engine::cuda
