// im2col / col2im and the direct reference convolution; see im2col.h for the layout.
//
// Shapes: x (N, C, H, W), w (K, C, R, S), out (N, K, P, Q), columns (C*R*S, count*P*Q).
// Both lowering loops run in parallel over (image, channel) pairs: each pair owns its rows of
// the columns and its plane of dx, so no two threads write the same float and the result does
// not depend on the thread count.
#include "engine/cpu/im2col.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace engine {

namespace {

std::string conv_shapes(const Shape& x, const Shape& w, int stride, int padding) {
  return "x " + shape_str(x) + ", w " + shape_str(w) + ", stride " + std::to_string(stride) +
         ", padding " + std::to_string(padding);
}

// The output positions [begin, end) along one axis whose input position
// o * stride - padding + k lies inside [0, size): everything else reads zero padding.
struct Span {
  int begin, end;
};

Span inside(int k, int size, int outputs, const ConvGeometry& g) {
  int shift = g.padding - k;  // input = o * stride - shift
  int begin = std::min(outputs, shift > 0 ? (shift + g.stride - 1) / g.stride : 0);
  int last = size - 1 + shift;  // o * stride <= last
  int end = last < 0 ? 0 : std::min(outputs, last / g.stride + 1);
  return {begin, std::max(begin, end)};
}

}  // namespace

ConvGeometry conv_geometry(const Shape& x, const Shape& w, int stride, int padding) {
  auto fail = [&](const std::string& why) {
    throw std::invalid_argument("conv2d: " + why + " (" + conv_shapes(x, w, stride, padding) + ")");
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

void im2col(float* columns, const float* x, const ConvGeometry& g, int first, int count) {
  const int64_t ld = count * g.pixels();
  for (int n = 0; n < count; ++n)
    for (int c = 0; c < g.C; ++c) {
      const float* plane = x + (static_cast<int64_t>(first + n) * g.C + c) * g.H * g.W;
      for (int r = 0; r < g.R; ++r) {
        Span ps = inside(r, g.H, g.P, g);
        for (int s = 0; s < g.S; ++s) {
          Span qs = inside(s, g.W, g.Q, g);
          float* row = columns + ((c * g.R + r) * g.S + s) * ld + n * g.pixels();
          std::fill(row, row + static_cast<int64_t>(ps.begin) * g.Q, 0.0f);
          for (int p = ps.begin; p < ps.end; ++p) {
            const float* in = plane + static_cast<int64_t>(p * g.stride - g.padding + r) * g.W;
            float* o = row + static_cast<int64_t>(p) * g.Q;
            std::fill(o, o + qs.begin, 0.0f);
            if (g.stride == 1)  // contiguous: lets the copy vectorise
              std::copy(in + qs.begin - g.padding + s, in + qs.end - g.padding + s, o + qs.begin);
            else
              for (int q = qs.begin; q < qs.end; ++q) o[q] = in[q * g.stride - g.padding + s];
            std::fill(o + qs.end, o + g.Q, 0.0f);
          }
          std::fill(row + static_cast<int64_t>(ps.end) * g.Q, row + g.pixels(), 0.0f);
        }
      }
    }
}

void col2im_add(float* dx, const float* columns, const ConvGeometry& g, int first, int count) {
  const int64_t ld = count * g.pixels();
  for (int n = 0; n < count; ++n)
    for (int c = 0; c < g.C; ++c) {
      float* plane = dx + (static_cast<int64_t>(first + n) * g.C + c) * g.H * g.W;
      for (int r = 0; r < g.R; ++r) {
        Span ps = inside(r, g.H, g.P, g);
        for (int s = 0; s < g.S; ++s) {
          Span qs = inside(s, g.W, g.Q, g);
          const float* row = columns + ((c * g.R + r) * g.S + s) * ld + n * g.pixels();
          for (int p = ps.begin; p < ps.end; ++p) {
            float* in = plane + static_cast<int64_t>(p * g.stride - g.padding + r) * g.W;
            const float* o = row + static_cast<int64_t>(p) * g.Q;
            if (g.stride == 1)  // contiguous: lets the sum vectorise
              for (int q = qs.begin; q < qs.end; ++q) in[q - g.padding + s] += o[q];
            else
              for (int q = qs.begin; q < qs.end; ++q) in[q * g.stride - g.padding + s] += o[q];
          }
        }
      }
    }
}

void conv2d_forward_reference(float* out, const float* x, const float* w, const float* bias,
                              const ConvGeometry& g) {
  for (int n = 0; n < g.N; ++n)
    for (int k = 0; k < g.K; ++k)
      for (int p = 0; p < g.P; ++p)
        for (int q = 0; q < g.Q; ++q) {
          double acc = bias ? bias[k] : 0.0;
          for (int c = 0; c < g.C; ++c)
            for (int r = 0; r < g.R; ++r)
              for (int s = 0; s < g.S; ++s) {
                int h = p * g.stride - g.padding + r, v = q * g.stride - g.padding + s;
                if (h < 0 || h >= g.H || v < 0 || v >= g.W) continue;
                acc += static_cast<double>(x[((n * g.C + c) * g.H + h) * g.W + v]) *
                       w[((k * g.C + c) * g.R + r) * g.S + s];
              }
          out[((n * g.K + k) * g.P + p) * g.Q + q] = static_cast<float>(acc);
        }
}

}  // namespace engine
