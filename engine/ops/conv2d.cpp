// 2-D convolution (cross-correlation, as PyTorch), groups = 1, zero padding.
//
// Shapes: x (N, C, H, W), w (K, C, R, S), bias (K), out (N, K, P, Q). The CPU runs oneDNN's
// direct convolutions (engine/cpu/conv2d.cpp); CUDA lowers it to a matrix multiply, im2col +
// cuBLAS (engine/cuda/).
#include <algorithm>
#include <stdexcept>
#include <string>

#include "engine/autograd.h"
#include "engine/kernels.h"
#include "engine/ops.h"

namespace engine {

ConvGeometry conv_geometry(const Shape& x, const Shape& w, int stride, int padding) {
  auto fail = [&](const std::string& why) {
    throw std::invalid_argument("conv2d: " + why + " (x " + shape_str(x) + ", w " + shape_str(w) +
                                ", stride " + std::to_string(stride) + ", padding " +
                                std::to_string(padding) + ")");
  };
  if (x.size() != 4) fail("x must be (N, C, H, W)");
  if (w.size() != 4) fail("w must be (K, C, R, S)");
  if (x[1] != w[1]) fail("x and w disagree on the channel count");
  if (std::any_of(w.begin(), w.end(), [](int d) { return d < 1; }) || x[0] < 0 || x[2] < 1 ||
      x[3] < 1)
    fail("empty channel, kernel or image");
  if (stride < 1 || padding < 0) fail("stride must be >= 1 and padding >= 0");
  ConvGeometry g{x[0], x[1], x[2], x[3], w[0], w[2], w[3], stride, padding, 0, 0};
  int reach_h = g.H + 2 * padding - g.R, reach_w = g.W + 2 * padding - g.S;
  if (reach_h < 0 || reach_w < 0) fail("kernel larger than the padded image");
  g.P = reach_h / stride + 1;
  g.Q = reach_w / stride + 1;
  return g;
}

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
