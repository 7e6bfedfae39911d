// Fully connected layer: out = x w^T + bias, via sgemm.
//
// Shapes: x (N, in), w (out, in), bias (out), out (N, out).
//   dx += dout (N, out) x w (out, in)
//   dw += dout^T (out, N) x x (N, in)
//   dbias += the sum of dout over N
// (kernels: engine/cpu/linear.cpp, sgemm; engine/cuda/, cuBLAS)
#include <stdexcept>
#include <string>

#include "engine/autograd.h"
#include "engine/kernels.h"
#include "engine/ops.h"

namespace engine {


Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias) {
  if (!x.defined() || !w.defined()) throw std::invalid_argument("linear: x or w is undefined");
  if (x.ndim() != 2 || w.ndim() != 2 || x.size(1) != w.size(1))
    throw std::invalid_argument("linear: x " + shape_str(x.shape()) + " must be (N, in) and w " +
                                shape_str(w.shape()) + " (out, in)");
  int N = x.size(0), in = x.size(1), outs = w.size(0);
  if (bias.defined() && bias.shape() != Shape{outs})
    throw std::invalid_argument("linear: bias " + shape_str(bias.shape()) + " must be (" +
                                std::to_string(outs) + ") for w " + shape_str(w.shape()));
  Device device = same_device("linear", {x, w, bias});
  Tensor out({N, outs}, 0.0f, device);
  GENIE_KERNEL(device, linear_forward)
  (out.data(), x.data(), w.data(), data_or_null(bias), N, in, outs);
  record(out, {x, w, bias}, [x, w, bias, o = out.node(), N, in, outs]() {
    GENIE_KERNEL(o->device(), linear_backward)
    (grad_or_null(x), grad_or_null(w), grad_or_null(bias), o->gradient(), x.data(), w.data(), N,
     in, outs);
  });
  return out;
}

}  // namespace engine
