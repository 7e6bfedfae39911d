// The geometry structs that kernels of every backend take, besides plain arrays.
#pragma once

#include <cstdint>

#include "engine/host_device.h"
#include "engine/tensor.h"

namespace engine {

// A convolution: x (N, C, H, W), w (K, C, R, S), out (N, K, P, Q) with
//   P = (H + 2 padding - R) / stride + 1,  Q = (W + 2 padding - S) / stride + 1.
struct ConvGeometry {
  int N, C, H, W;  // input
  int K, R, S;     // filters and kernel height, width
  int stride, padding;
  int P, Q;  // output height, width

  // rows of the columns, and columns per image
  GENIE_HOST_DEVICE int64_t patch() const { return static_cast<int64_t>(C) * R * S; }
  GENIE_HOST_DEVICE int64_t pixels() const { return static_cast<int64_t>(P) * Q; }
};

// Checks x (N, C, H, W) against w (K, C, R, S) and computes the output size; throws
// std::invalid_argument naming the shapes when they do not fit together.
ConvGeometry conv_geometry(const Shape& x, const Shape& w, int stride, int padding);

// A pooling window slid over planes = N * C images of height x width.
struct PoolGeometry {
  int planes, height, width, out_height, out_width, kernel, stride, padding;
  GENIE_HOST_DEVICE int64_t in_plane() const { return int64_t{height} * width; }
  GENIE_HOST_DEVICE int64_t out_plane() const { return int64_t{out_height} * out_width; }
};

// x[:, :, top:top+height, left:left+width]
struct CropBox {
  int top, left, height, width;
};

}  // namespace engine
