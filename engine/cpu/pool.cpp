// CPU kernels of pooling. Every kernel loops over planes in parallel and each plane is done by
// one thread in a fixed order, so results are deterministic.
#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/kernels.h"
#include "engine/threads.h"

namespace engine::cpu {

namespace {

// The window of output (oh, ow) clipped to the input: rows [h0, h1), columns [w0, w1).
struct Window {
  int h0, h1, w0, w1;
};

Window window_at(const PoolGeometry& g, int oh, int ow) {
  int h0 = oh * g.stride - g.padding, w0 = ow * g.stride - g.padding;
  return {std::max(h0, 0), std::min(h0 + g.kernel, g.height), std::max(w0, 0),
          std::min(w0 + g.kernel, g.width)};
}

}  // namespace

// Padding is -inf, so it never wins: the max is over the clipped window. Scanning row-major with
// a strict > keeps the first of tied maxima, and a NaN always takes over, both as PyTorch does.
void max_pool_forward(float* out, int32_t* argmax, const float* x, const PoolGeometry& g) {
#pragma omp parallel for schedule(static) if (worth_threads(g.planes * g.in_plane()))
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
#pragma omp parallel for schedule(static) if (worth_threads(g.planes * g.in_plane()))
  for (int p = 0; p < g.planes; ++p) {
    float* dxp = dx + p * g.in_plane();
    for (int64_t o = p * g.out_plane(); o < (p + 1) * g.out_plane(); ++o) dxp[argmax[o]] += dout[o];
  }
}

// Padding counts as zeros (count_include_pad=True): the divisor is always kernel^2, because
// without ceil_mode every window lies inside the padded input.
void avg_pool_forward(float* out, const float* x, const PoolGeometry& g) {
  float inv_area = 1.0f / static_cast<float>(g.kernel * g.kernel);
#pragma omp parallel for schedule(static) if (worth_threads(g.planes * g.in_plane()))
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
#pragma omp parallel for schedule(static) if (worth_threads(g.planes * g.in_plane()))
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
#pragma omp parallel for schedule(static) if (worth_threads(planes * plane_size))
  for (int p = 0; p < planes; ++p) {
    double sum = 0.0;
    for (int64_t i = 0; i < plane_size; ++i) sum += x[p * plane_size + i];
    out[p] = static_cast<float>(sum / static_cast<double>(plane_size));
  }
}

void global_avg_pool_backward(float* dx, const float* dout, int planes, int64_t plane_size) {
  float inv_size = 1.0f / static_cast<float>(plane_size);
#pragma omp parallel for schedule(static) if (worth_threads(planes * plane_size))
  for (int p = 0; p < planes; ++p) {
    float share = dout[p] * inv_size;
    for (int64_t i = 0; i < plane_size; ++i) dx[p * plane_size + i] += share;
  }
}

}  // namespace engine::cpu
