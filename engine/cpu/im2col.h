// Lowering a convolution to a matrix multiply (im2col) and back (col2im), on the CPU, plus the
// direct-loop convolution that the lowered one is tested against.
//
// Shapes: x (N, C, H, W), w (K, C, R, S), out (N, K, P, Q) with
//   P = (H + 2 padding - R) / stride + 1,  Q = (W + 2 padding - S) / stride + 1.
// The column matrix of images [first, first + count) is (C*R*S, count*P*Q): row (c, r, s),
// column (n, p, q) holds x[first + n, c, p*stride - padding + r, q*stride - padding + s], or 0
// where that falls in the zero padding. Then out = w (K, C*R*S) x columns.
#pragma once

#include <cstdint>

#include "engine/kernel_types.h"

namespace engine {

// columns (C*R*S, count*P*Q) = the patches of images [first, first + count) of x.
void im2col(float* columns, const float* x, const ConvGeometry& g, int first, int count);
// The adjoint of im2col: adds every column entry back into the x element it was read from.
void col2im_add(float* dx, const float* columns, const ConvGeometry& g, int first, int count);

// out (N, K, P, Q) by direct summation in double; bias (K) or nullptr. Slow: for tests.
void conv2d_forward_reference(float* out, const float* x, const float* w, const float* bias,
                              const ConvGeometry& g);

}  // namespace engine
