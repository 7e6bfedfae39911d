// 2-D convolution (cross-correlation, as PyTorch), groups = 1, zero padding.
//
// Shapes: x (N, C, H, W), w (K, C, R, S), bias (K), out (N, K, P, Q). Each backend lowers it to
// a matrix multiply: im2col + sgemm on the CPU (engine/cpu/conv2d.cpp), im2col + cuBLAS on CUDA.
#include <stdexcept>
#include <string>

#include "engine/autograd.h"
#include "engine/kernels.h"
#include "engine/ops.h"

namespace engine {

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, int stride, int padding) {
  if (!x.defined() || !w.defined()) throw std::invalid_argument("conv2d: x or w is undefined");
  ConvGeometry g = conv_geometry(x.shape(), w.shape(), stride, padding);
  if (bias.defined() && bias.shape() != Shape{g.K})
    throw std::invalid_argument("conv2d: bias " + shape_str(bias.shape()) + " must be (" +
                                std::to_string(g.K) + ") for w " + shape_str(w.shape()));
  Device device = same_device("conv2d", {x, w, bias});
  Tensor out = Tensor::uninitialized({g.N, g.K, g.P, g.Q}, device);
  GENIE_KERNEL(device, conv2d_forward)(out.data(), x.data(), w.data(), data_or_null(bias), g);
  record(out, {x, w, bias}, [x, w, bias, o = out.node(), g]() {
    GENIE_KERNEL(o->device(), conv2d_backward)
    (grad_or_null(x), grad_or_null(w), grad_or_null(bias), o->gradient(), x.data(), w.data(), g);
  });
  return out;
}

}  // namespace engine
