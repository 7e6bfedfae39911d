// The op set: every differentiable operation the engine offers, declared once.
//
// Each op takes and returns Tensors, computes its forward on the tensors' device, and, when an
// input requires a gradient (and grad mode is on), records a backward that adds into the inputs'
// grads. Each op lives in engine/ops/<name>.cpp: its checks and its autodiff rule, calling the
// forward and backward kernels of its device's backend (engine/kernels.h: engine/cpu/ and
// engine/cuda/ implement the same kernel list).
//
// Shapes: images are (N, C, H, W); conv weights (K, C, R, S); linear weights (out, in).
// Broadcasting (add/sub/mul/div/where) follows NumPy: shapes are aligned from the right and a
// dimension of size 1 stretches, e.g. (N, C, H, W) + (1, C, 1, 1) adds a per-channel value.
#pragma once

#include <vector>

#include "engine/tensor.h"

namespace engine {

class Rng;

// ---- elementwise, binary with broadcasting (ops/binary.cpp) ----
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
// where(mask, a, b) = mask != 0 ? a : b; the mask gets no gradient.
Tensor where(const Tensor& mask, const Tensor& a, const Tensor& b);
// where(bernoulli(shape, p_a, rng), a, b) without the float mask: QDrop's random choice, drawn
// one element at a time in order (rng.h's bernoulli_bytes).
Tensor random_where(float p_a, Rng& rng, const Tensor& a, const Tensor& b);

// ---- elementwise, unary, and with a scalar (ops/unary.cpp; arithmetic in elementwise.h) ----
Tensor add_scalar(const Tensor& x, float c);
Tensor mul_scalar(const Tensor& x, float c);
Tensor relu(const Tensor& x);
Tensor leaky_relu(const Tensor& x, float negative_slope);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor square(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor abs(const Tensor& x);                  // d|x|/dx = sign(x), 0 at 0 (as PyTorch)
Tensor pow(const Tensor& x, float exponent);  // x^p for x >= 0 or integer p
// clamp(x, lo, hi): the gradient passes where lo <= x <= hi, bounds included (docs/METHOD.md).
Tensor clamp(const Tensor& x, float lo, float hi);
// Round half to even; straight-through gradient (d/dx = 1).
Tensor round_ste(const Tensor& x);
Tensor floor(const Tensor& x);      // gradient 0
Tensor heaviside(const Tensor& x);  // [x >= 0], gradient 0

// ---- GENIE-M's activation fake quantizer (ops/fake_quantize.cpp) ----
// s * round_ste(clamp(x / s, qn, qp)) for a per-tensor step s of shape (1): the composition of
// div, clamp, round_ste and mul in one pass forward and one backward (the same values and x
// gradients; the step's gradient is summed in blocks, engine/cpu/fake_quantize.cpp).
Tensor fake_quantize(const Tensor& x, const Tensor& step, float qn, float qp);
// With QDrop: each element keeps x's own value with probability 1 - p_quantized, else takes its
// quantized value; random_where(1 - p_quantized, rng, x, fake_quantize(x, ...)) bit for bit.
Tensor fake_quantize(const Tensor& x, const Tensor& step, float qn, float qp, float p_quantized,
                     Rng& rng);

// ---- reductions (ops/reduce.cpp); `axes` may be negative; keepdim keeps size-1 axes ----
Tensor sum(const Tensor& x, const std::vector<int>& axes, bool keepdim = false);
Tensor mean(const Tensor& x, const std::vector<int>& axes, bool keepdim = false);
// Unbiased (N-1) standard deviation over `axes`.
Tensor std_unbiased(const Tensor& x, const std::vector<int>& axes, bool keepdim = false);
Tensor sum_all(const Tensor& x);   // shape (1)
Tensor mean_all(const Tensor& x);  // shape (1)

// ---- shape (ops/shape.cpp) ----
Tensor reshape(const Tensor& x, const Shape& shape);  // one dim may be -1
Tensor flatten(const Tensor& x);                      // (N, ...) -> (N, rest)

// ---- rows of (N, ...) tensors (ops/rows.cpp) ----
Tensor slice_rows(const Tensor& x, int start, int count);           // x[start:start+count]
Tensor gather_rows(const Tensor& x, const std::vector<int>& rows);  // x[rows]
Tensor concat_rows(const std::vector<Tensor>& parts);               // stacked along dim 0

// ---- convolution and linear (ops/conv2d.cpp, ops/linear.cpp) ----
// x (N, C, H, W), w (K, C, R, S), bias (K) or undefined; zero padding; groups = 1.
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, int stride, int padding);
// x (N, in), w (out, in), bias (out) or undefined.
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias);

// ---- batch normalization (ops/batch_norm.cpp) ----
struct BatchNormState {
  Tensor running_mean;  // (C)
  Tensor running_var;   // (C), unbiased batch variance is blended in, as PyTorch does
  float momentum = 0.1f;
  float eps = 1e-5f;
};
// Training mode: normalise with the batch statistics (biased variance) and update the running
// statistics. Eval mode: normalise with the running statistics. gamma/beta undefined = non-affine.
Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, BatchNormState& state,
                  bool training);

// ---- pooling and resampling (ops/pool.cpp, ops/resample.cpp) ----
Tensor max_pool2d(const Tensor& x, int kernel, int stride, int padding);
Tensor avg_pool2d(const Tensor& x, int kernel, int stride, int padding);  // padding counted
Tensor global_avg_pool(const Tensor& x);                                  // (N, C, H, W) -> (N, C)
Tensor upsample_nearest2x(const Tensor& x);
Tensor reflection_pad2d(const Tensor& x, int pad);
// x[:, :, top:top+height, left:left+width]
Tensor crop2d(const Tensor& x, int top, int left, int height, int width);
// The parameter-free CIFAR ResNet shortcut ("option A"): take every second pixel and zero-pad
// the channels equally on both sides, (N, C, H, W) -> (N, C + 2*pad_channels, ceil(H/2),
// ceil(W/2)).
Tensor shortcut_subsample_pad(const Tensor& x, int pad_channels);

// ---- loss (ops/cross_entropy.cpp) ----
// Mean over the batch of -log softmax(logits)[label]; logits (N, classes).
Tensor softmax_cross_entropy(const Tensor& logits, const std::vector<int>& labels);

}  // namespace engine
