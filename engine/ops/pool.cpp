// Pooling: max and average over square windows, and the global average over each plane.
//
// Shapes: x (N, C, H, W), out (N, C, OH, OW) with OH = (H + 2 * padding - kernel) / stride + 1
// (floor, PyTorch's ceil_mode=False), global_avg_pool out (N, C). A "plane" is one (n, c) image,
// planes = N * C; every kernel loops over planes in parallel and each plane is done by one
// thread in a fixed order, so results are deterministic.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

#include "engine/autograd.h"
#include "engine/ops.h"

namespace engine {

namespace {

struct PoolGeometry {
  int planes, height, width, out_height, out_width, kernel, stride, padding;
  int64_t in_plane() const { return int64_t{height} * width; }
  int64_t out_plane() const { return int64_t{out_height} * out_width; }
  bool worth_threads() const { return planes * in_plane() > 65536; }
};

// The window of output (oh, ow) clipped to the input: rows [h0, h1), columns [w0, w1).
struct Window {
  int h0, h1, w0, w1;
};

Window window_at(const PoolGeometry& g, int oh, int ow) {
  int h0 = oh * g.stride - g.padding, w0 = ow * g.stride - g.padding;
  return {std::max(h0, 0), std::min(h0 + g.kernel, g.height), std::max(w0, 0),
          std::min(w0 + g.kernel, g.width)};
}

// Padding is -inf, so it never wins: the max is over the clipped window. Scanning row-major with
// a strict > keeps the first of tied maxima, and a NaN always takes over, both as PyTorch does.
void max_pool_forward(float* out, int32_t* argmax, const float* x, const PoolGeometry& g) {
#pragma omp parallel for schedule(static) if (g.worth_threads())
  for (int p = 0; p < g.planes; ++p) {
    const float* xp = x + p * g.in_plane();
    for (int oh = 0; oh < g.out_height; ++oh)
      for (int ow = 0; ow < g.out_width; ++ow) {
        Window win = window_at(g, oh, ow);
        int32_t best_at = win.h0 * g.width + win.w0;
        float best = -std::numeric_limits<float>::infinity();
        for (int h = win.h0; h < win.h1; ++h)
          for (int w = win.w0; w < win.w1; ++w) {
            float v = xp[h * g.width + w];
            if (v > best || std::isnan(v)) {
              best = v;
              best_at = h * g.width + w;
            }
          }
        int64_t o = p * g.out_plane() + int64_t{oh} * g.out_width + ow;
        out[o] = best;
        argmax[o] = best_at;
      }
  }
}

// The gradient goes to the element that was the max.
void max_pool_backward(float* dx, const float* dout, const int32_t* argmax, const PoolGeometry& g) {
#pragma omp parallel for schedule(static) if (g.worth_threads())
  for (int p = 0; p < g.planes; ++p) {
    float* dxp = dx + p * g.in_plane();
    for (int64_t o = p * g.out_plane(); o < (p + 1) * g.out_plane(); ++o) dxp[argmax[o]] += dout[o];
  }
}

// Padding counts as zeros (count_include_pad=True): the divisor is always kernel^2, because
// without ceil_mode every window lies inside the padded input.
void avg_pool_forward(float* out, const float* x, const PoolGeometry& g) {
  float inv_area = 1.0f / static_cast<float>(g.kernel * g.kernel);
#pragma omp parallel for schedule(static) if (g.worth_threads())
  for (int p = 0; p < g.planes; ++p) {
    const float* xp = x + p * g.in_plane();
    for (int oh = 0; oh < g.out_height; ++oh)
      for (int ow = 0; ow < g.out_width; ++ow) {
        Window win = window_at(g, oh, ow);
        float sum = 0.0f;
        for (int h = win.h0; h < win.h1; ++h)
          for (int w = win.w0; w < win.w1; ++w) sum += xp[h * g.width + w];
        out[p * g.out_plane() + int64_t{oh} * g.out_width + ow] = sum * inv_area;
      }
  }
}

void avg_pool_backward(float* dx, const float* dout, const PoolGeometry& g) {
  float inv_area = 1.0f / static_cast<float>(g.kernel * g.kernel);
#pragma omp parallel for schedule(static) if (g.worth_threads())
  for (int p = 0; p < g.planes; ++p) {
    float* dxp = dx + p * g.in_plane();
    for (int oh = 0; oh < g.out_height; ++oh)
      for (int ow = 0; ow < g.out_width; ++ow) {
        Window win = window_at(g, oh, ow);
        float share = dout[p * g.out_plane() + int64_t{oh} * g.out_width + ow] * inv_area;
        for (int h = win.h0; h < win.h1; ++h)
          for (int w = win.w0; w < win.w1; ++w) dxp[h * g.width + w] += share;
      }
  }
}

// out[p] = mean of plane p, summed in double since planes can be large.
void global_avg_pool_forward(float* out, const float* x, int planes, int64_t plane_size) {
#pragma omp parallel for schedule(static) if (planes * plane_size > 65536)
  for (int p = 0; p < planes; ++p) {
    double sum = 0.0;
    for (int64_t i = 0; i < plane_size; ++i) sum += x[p * plane_size + i];
    out[p] = static_cast<float>(sum / static_cast<double>(plane_size));
  }
}

void global_avg_pool_backward(float* dx, const float* dout, int planes, int64_t plane_size) {
  float inv_size = 1.0f / static_cast<float>(plane_size);
#pragma omp parallel for schedule(static) if (planes * plane_size > 65536)
  for (int p = 0; p < planes; ++p) {
    float share = dout[p] * inv_size;
    for (int64_t i = 0; i < plane_size; ++i) dx[p * plane_size + i] += share;
  }
}

void require_images(const Tensor& x, const char* op) {
  if (x.ndim() != 4 || x.numel() == 0)
    throw std::invalid_argument(std::string(op) + " needs a non-empty x (N, C, H, W), got " +
                                shape_str(x.shape()));
}

// PyTorch's limits: positive kernel and stride, padding at most half the kernel (so every window
// holds at least one real element), and at least one output pixel.
PoolGeometry pool_geometry(const Tensor& x, int kernel, int stride, int padding, const char* op) {
  require_images(x, op);
  std::string args = std::string(op) + "(kernel " + std::to_string(kernel) + ", stride " +
                     std::to_string(stride) + ", padding " + std::to_string(padding) + ")";
  if (kernel < 1 || stride < 1 || padding < 0 || padding > kernel / 2)
    throw std::invalid_argument(args + ": needs kernel, stride >= 1 and 0 <= padding <= kernel/2");
  int H = x.size(2), W = x.size(3);
  if (H + 2 * padding < kernel || W + 2 * padding < kernel)
    throw std::invalid_argument(args + ": kernel larger than the padded input " +
                                shape_str(x.shape()));
  return {x.size(0) * x.size(1),
          H,
          W,
          (H + 2 * padding - kernel) / stride + 1,
          (W + 2 * padding - kernel) / stride + 1,
          kernel,
          stride,
          padding};
}

Shape pooled_shape(const Tensor& x, const PoolGeometry& g) {
  return {x.size(0), x.size(1), g.out_height, g.out_width};
}

}  // namespace

Tensor max_pool2d(const Tensor& x, int kernel, int stride, int padding) {
  PoolGeometry g = pool_geometry(x, kernel, stride, padding, "max_pool2d");
  Tensor out(pooled_shape(x, g));
  std::vector<int32_t> argmax(out.numel());
  max_pool_forward(out.data(), argmax.data(), x.data(), g);
  record(out, {x}, [x, o = out.node(), argmax, g]() mutable {
    max_pool_backward(x.grad(), o->grad.data(), argmax.data(), g);
  });
  return out;
}

Tensor avg_pool2d(const Tensor& x, int kernel, int stride, int padding) {
  PoolGeometry g = pool_geometry(x, kernel, stride, padding, "avg_pool2d");
  Tensor out(pooled_shape(x, g));
  avg_pool_forward(out.data(), x.data(), g);
  record(out, {x},
         [x, o = out.node(), g]() mutable { avg_pool_backward(x.grad(), o->grad.data(), g); });
  return out;
}

Tensor global_avg_pool(const Tensor& x) {
  require_images(x, "global_avg_pool");
  int planes = x.size(0) * x.size(1);
  int64_t plane_size = int64_t{x.size(2)} * x.size(3);
  Tensor out({x.size(0), x.size(1)});
  global_avg_pool_forward(out.data(), x.data(), planes, plane_size);
  record(out, {x}, [x, o = out.node(), planes, plane_size]() mutable {
    global_avg_pool_backward(x.grad(), o->grad.data(), planes, plane_size);
  });
  return out;
}

}  // namespace engine
