// CPU kernels of the fully connected layer: out = x w^T + bias, via sgemm.
//
// Shapes: x (N, in), w (out, in), bias (out), out (N, out).
//   dx += dout (N, out) x w (out, in)
//   dw += dout^T (out, N) x x (N, in)
//   dbias += the sum of dout over N

#include "engine/cpu/gemm.h"
#include "engine/kernels.h"

namespace engine::cpu {

void linear_forward(float* out, const float* x, const float* w, const float* bias, int N, int in,
                    int outs) {
  gemm(false, true, N, outs, in, 1.0f, x, w, 0.0f, out);
  if (!bias) return;
  for (int n = 0; n < N; ++n)
    for (int j = 0; j < outs; ++j) out[static_cast<int64_t>(n) * outs + j] += bias[j];
}

// Adds into dx, dw, dbias; a nullptr one is skipped.
void linear_backward(float* dx, float* dw, float* dbias, const float* dout, const float* x,
                     const float* w, int N, int in, int outs) {
  if (dx) gemm(false, false, N, in, outs, 1.0f, dout, w, 1.0f, dx);
  if (dw) gemm(true, false, outs, in, N, 1.0f, dout, x, 1.0f, dw);
  if (!dbias) return;
  for (int j = 0; j < outs; ++j) {
    double acc = 0.0;
    for (int n = 0; n < N; ++n) acc += dout[static_cast<int64_t>(n) * outs + j];
    dbias[j] += static_cast<float>(acc);
  }
}

}  // namespace engine::cpu
