// Fully connected layer, out = x w^T + bias, as cuBLAS sgemms (the CPU path's math):
//   dx += dout (N, out) x w (out, in),  dw += dout^T x x (N, in),  dbias += the sum of dout over N.
// The bias add is one thread per output element; dbias is reduce_each, one block per feature.
#include "engine/cuda/blas.h"
#include "engine/cuda/launch.cuh"
#include "engine/cuda/reduce.cuh"
#include "engine/kernels.h"

namespace engine::cuda {

namespace {

struct AddBias {
  float* out;
  const float* bias;
  int outs;
  __device__ void operator()(int64_t i) const { out[i] += bias[i % outs]; }
};

// dbias[j]: the terms are dout[n, j] for every n, in order.
struct FeatureColumn {
  const float* dout;
  int outs;
  __device__ double operator()(int64_t j, int64_t n) const { return dout[n * outs + j]; }
};

struct AddToBias {
  float* dbias;
  __device__ void operator()(int64_t j, double total) const {
    dbias[j] += static_cast<float>(total);
  }
};

}  // namespace

void linear_forward(float* out, const float* x, const float* w, const float* bias, int N, int in,
                    int outs) {
  gemm(false, true, N, outs, in, 1.0f, x, w, 0.0f, out);
  if (bias) for_each_index("linear_forward", int64_t{N} * outs, AddBias{out, bias, outs});
}

void linear_backward(float* dx, float* dw, float* dbias, const float* dout, const float* x,
                     const float* w, int N, int in, int outs) {
  if (dx) gemm(false, false, N, in, outs, 1.0f, dout, w, 1.0f, dx);
  if (dw) gemm(true, false, outs, in, N, 1.0f, dout, x, 1.0f, dw);
  if (dbias) reduce_each("linear_backward", outs, N, FeatureColumn{dout, outs}, AddToBias{dbias});
}

}  // namespace engine::cuda
