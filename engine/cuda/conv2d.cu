// 2-D convolution (cross-correlation, groups = 1, zero padding) as im2col + cuBLAS sgemm.
// Shapes: x (N, C, H, W), w (K, C, R, S), out (N, K, P, Q). The column matrix of images
// [first, first + B) is (C*R*S, B*P*Q): row (c, r, s), column (n, p, q) holds
// x[first + n, c, p*stride - padding + r, q*stride - padding + s], or 0 in the zero padding.
//   forward:  staged (K, B*P*Q) = w (K, C*R*S) x columns (C*R*S, B*P*Q), then out = staged + bias
//   dw:       dw += staged dout (K, B*P*Q) x columns^T
//   dx:       columns = w^T x staged dout, then col2im adds them into dx
//   dbias:    the sum of dout over N, P, Q
// for chunks of B images, so that the column buffers stay bounded. im2col, the staging copies
// and col2im are one thread per element written; col2im is a gather (each dx element sums the
// column entries read from it), so no two threads write one float and no atomics are needed.
// dw accumulates chunk after chunk on the one stream: deterministic. dbias is reduce_each.
#include <algorithm>

#include "engine/cuda/blas.h"
#include "engine/cuda/launch.cuh"
#include "engine/cuda/reduce.cuh"
#include "engine/cuda/scratch.h"
#include "engine/kernels.h"

namespace engine::cuda {

namespace {

// The size cap in floats (64 MiB) of each chunk buffer, columns (C*R*S, B*P*Q) and staged
// (K, B*P*Q): past it the sgemm is already large and more images per chunk only cost memory.
constexpr int64_t kChunkBudget = int64_t{16} << 20;

int images_per_chunk(const ConvGeometry& g) {
  int64_t fit = kChunkBudget / std::max<int64_t>(std::max<int64_t>(g.patch(), g.K) * g.pixels(), 1);
  return static_cast<int>(std::clamp<int64_t>(fit, 1, std::max(g.N, 1)));
}

// columns (C*R*S, count*P*Q): row (c, r, s), column (n, p, q) holds
// x[first + n, c, p*stride - padding + r, q*stride - padding + s], or 0 in the padding.
struct Im2col {
  float* columns;
  const float* x;
  ConvGeometry g;
  int first, count;
  __device__ void operator()(int64_t e) const {
    const int64_t ld = count * g.pixels();
    int64_t row = e / ld, column = e % ld;
    int n = static_cast<int>(column / g.pixels()),
        pixel = static_cast<int>(column % g.pixels());
    int p = pixel / g.Q, q = pixel % g.Q;
    int c = static_cast<int>(row / (g.R * g.S)), rs = static_cast<int>(row % (g.R * g.S));
    int h = p * g.stride - g.padding + rs / g.S, w = q * g.stride - g.padding + rs % g.S;
    bool inside = 0 <= h && h < g.H && 0 <= w && w < g.W;
    columns[e] = inside ? x[((int64_t{first + n} * g.C + c) * g.H + h) * g.W + w] : 0.0f;
  }
};

// The positions o in [0, outputs) with o * stride - padding + k == i, for each kernel offset
// k: the column entries that read input position i.
struct Col2im {
  float* dx;
  const float* columns;
  ConvGeometry g;
  int first, count;
  __device__ void operator()(int64_t e) const {
    const int64_t ld = count * g.pixels();
    int w = static_cast<int>(e % g.W), h = static_cast<int>(e / g.W % g.H);
    int c = static_cast<int>(e / (int64_t{g.W} * g.H) % g.C);
    int n = static_cast<int>(e / (int64_t{g.W} * g.H * g.C));
    float* target = dx + int64_t{first} * g.C * g.H * g.W + e;
    // Starting from dx and adding in (r, s) order repeats the CPU's float additions exactly.
    float sum = *target;
    for (int r = 0; r < g.R; ++r) {
      int hp = h + g.padding - r;
      if (hp < 0 || hp % g.stride != 0 || hp / g.stride >= g.P) continue;
      for (int s = 0; s < g.S; ++s) {
        int wq = w + g.padding - s;
        if (wq < 0 || wq % g.stride != 0 || wq / g.stride >= g.Q) continue;
        int64_t row = (int64_t{c} * g.R + r) * g.S + s;
        sum += columns[row * ld + int64_t{n} * g.pixels() + int64_t{hp / g.stride} * g.Q +
                       wq / g.stride];
      }
    }
    *target = sum;
  }
};

// out[first + n, k] = staged[k, n] + bias[k], over the chunk's elements of out.
struct Unstage {
  float* out;
  const float* staged;
  const float* bias;
  ConvGeometry g;
  int first, count;
  __device__ void operator()(int64_t e) const {
    int64_t pixel = e % g.pixels(), plane = e / g.pixels();
    int k = static_cast<int>(plane % g.K), n = static_cast<int>(plane / g.K);
    float b = bias ? bias[k] : 0.0f;
    out[int64_t{first} * g.K * g.pixels() + e] =
        staged[(int64_t{k} * count + n) * g.pixels() + pixel] + b;
  }
};

// staged[k, n] = dout[first + n, k], over the chunk's elements of staged.
struct Stage {
  float* staged;
  const float* dout;
  ConvGeometry g;
  int first, count;
  __device__ void operator()(int64_t e) const {
    int64_t pixel = e % g.pixels(), plane = e / g.pixels();
    int n = static_cast<int>(plane % count), k = static_cast<int>(plane / count);
    staged[e] = dout[((int64_t{first} + n) * g.K + k) * g.pixels() + pixel];
  }
};

// dbias[k]: the terms are dout[n, k, :] for every n, in order.
struct BiasTerms {
  const float* dout;
  ConvGeometry g;
  __device__ double operator()(int64_t k, int64_t t) const {
    int64_t n = t / g.pixels(), pixel = t % g.pixels();
    return dout[(n * g.K + k) * g.pixels() + pixel];
  }
};

struct AddToBias {
  float* dbias;
  __device__ void operator()(int64_t k, double total) const {
    dbias[k] += static_cast<float>(total);
  }
};

// The chunks [first, first + count) of the batch, in order.
template <class F>
void for_each_chunk(const ConvGeometry& g, F f) {
  const int chunk = images_per_chunk(g);
  for (int first = 0; first < g.N; first += chunk) f(first, std::min(chunk, g.N - first));
}

}  // namespace

void conv2d_forward(float* out, const float* x, const float* w, const float* bias,
                    const ConvGeometry& g) {
  const int chunk = images_per_chunk(g);
  DeviceArray<float> columns(g.patch() * chunk * g.pixels());
  DeviceArray<float> staged(int64_t{g.K} * chunk * g.pixels());
  for_each_chunk(g, [&](int first, int count) {
    const int64_t cols = count * g.pixels();
    for_each_index("conv2d_forward", g.patch() * cols, Im2col{columns.get(), x, g, first, count});
    gemm(false, false, g.K, static_cast<int>(cols), static_cast<int>(g.patch()), 1.0f, w,
         columns.get(), 0.0f, staged.get());
    for_each_index("conv2d_forward", g.K * cols, Unstage{out, staged.get(), bias, g, first, count});
  });
}

void conv2d_backward(float* dx, float* dw, float* dbias, const float* dout, const float* x,
                     const float* w, const ConvGeometry& g) {
  if (dbias)
    reduce_each("conv2d_backward", g.K, int64_t{g.N} * g.pixels(), BiasTerms{dout, g},
                AddToBias{dbias});
  if (!dx && !dw) return;
  const int chunk = images_per_chunk(g);
  const int patch = static_cast<int>(g.patch());
  DeviceArray<float> columns(g.patch() * chunk * g.pixels());
  DeviceArray<float> staged(int64_t{g.K} * chunk * g.pixels());
  for_each_chunk(g, [&](int first, int count) {
    const int64_t cols = count * g.pixels();
    for_each_index("conv2d_backward", g.K * cols, Stage{staged.get(), dout, g, first, count});
    if (dw) {
      for_each_index("conv2d_backward", g.patch() * cols,
                     Im2col{columns.get(), x, g, first, count});
      gemm(false, true, g.K, patch, static_cast<int>(cols), 1.0f, staged.get(), columns.get(), 1.0f,
           dw);
    }
    if (dx) {
      gemm(true, false, patch, static_cast<int>(cols), g.K, 1.0f, w, staged.get(), 0.0f,
           columns.get());
      for_each_index("conv2d_backward", int64_t{count} * g.C * g.H * g.W,
                     Col2im{dx, columns.get(), g, first, count});
    }
  });
}

}  // namespace engine::cuda
