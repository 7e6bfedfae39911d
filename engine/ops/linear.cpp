// Fully connected layer: out = x w^T + bias, via sgemm.
//
// Shapes: x (N, in), w (out, in), bias (out), out (N, out).
//   dx += dout (N, out) x w (out, in)
//   dw += dout^T (out, N) x x (N, in)
//   dbias += the sum of dout over N
#include <stdexcept>
#include <string>

#include "engine/autograd.h"
#include "engine/cpu/gemm.h"
#include "engine/ops.h"

namespace engine {

namespace {

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

}  // namespace

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias) {
  if (!x.defined() || !w.defined()) throw std::invalid_argument("linear: x or w is undefined");
  if (x.ndim() != 2 || w.ndim() != 2 || x.size(1) != w.size(1))
    throw std::invalid_argument("linear: x " + shape_str(x.shape()) + " must be (N, in) and w " +
                                shape_str(w.shape()) + " (out, in)");
  int N = x.size(0), in = x.size(1), outs = w.size(0);
  if (bias.defined() && bias.shape() != Shape{outs})
    throw std::invalid_argument("linear: bias " + shape_str(bias.shape()) + " must be (" +
                                std::to_string(outs) + ") for w " + shape_str(w.shape()));
  Tensor out({N, outs});
  linear_forward(out.data(), x.data(), w.data(), bias.defined() ? bias.data() : nullptr, N, in,
                 outs);
  record(out, {x, w, bias}, [x, w, bias, o = out.node(), N, in, outs]() {
    linear_backward(x.requires_grad() ? x.grad() : nullptr, w.requires_grad() ? w.grad() : nullptr,
                    bias.defined() && bias.requires_grad() ? bias.grad() : nullptr, o->grad.data(),
                    x.data(), w.data(), N, in, outs);
  });
  return out;
}

}  // namespace engine
