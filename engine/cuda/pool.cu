// Pooling: max and average over square windows, and the global average over each plane.
//
// Forwards are one thread per output element, scanning its window as the CPU does. Backwards
// are gathers, one thread per input element visiting the windows that cover it in output order
// and starting from dx: windows overlap when stride < kernel, and a gather needs no atomics and
// adds in the CPU's order. The global average is reduce_each per plane.
#include <cmath>

#include "engine/cuda/launch.cuh"
#include "engine/cuda/reduce.cuh"
#include "engine/kernels.h"

namespace engine::cuda {

namespace {

// The window of an output position clipped to the input, [begin, end) along one axis.
struct Span {
  int begin, end;
};

__device__ Span window(int o, int size, const PoolGeometry& g) {
  int start = o * g.stride - g.padding;
  return {max(start, 0), min(start + g.kernel, size)};
}

// The output positions [begin, end) along one axis whose window covers input position i.
__device__ Span covering(int i, int outputs, const PoolGeometry& g) {
  int lowest = i + g.padding - g.kernel + 1;  // o * stride must reach past it
  int begin = lowest <= 0 ? 0 : (lowest + g.stride - 1) / g.stride;
  return {begin, min(outputs, (i + g.padding) / g.stride + 1)};
}

// Padding is -inf, so it never wins: the max is over the clipped window. Scanning row-major with
// a strict > keeps the first of tied maxima, and a NaN always takes over, both as PyTorch does.
struct MaxPoolForward {
  float* out;
  int32_t* argmax;
  const float* x;
  PoolGeometry g;
  __device__ void operator()(int64_t o) const {
    int64_t plane = o / g.out_plane();
    int oh = static_cast<int>(o % g.out_plane() / g.out_width);
    int ow = static_cast<int>(o % g.out_width);
    const float* xp = x + plane * g.in_plane();
    Span hs = window(oh, g.height, g), ws = window(ow, g.width, g);
    int32_t best_at = hs.begin * g.width + ws.begin;
    float best = -INFINITY;
    for (int h = hs.begin; h < hs.end; ++h)
      for (int w = ws.begin; w < ws.end; ++w) {
        float v = xp[h * g.width + w];
        if (v > best || isnan(v)) {
          best = v;
          best_at = h * g.width + w;
        }
      }
    out[o] = best;
    argmax[o] = best_at;
  }
};

// dx[i] gets the gradients of the windows whose max it was.
struct MaxPoolBackward {
  float* dx;
  const float* dout;
  const int32_t* argmax;
  PoolGeometry g;
  __device__ void operator()(int64_t i) const {
    int64_t plane = i / g.in_plane();
    int at = static_cast<int>(i % g.in_plane());
    int h = at / g.width, w = at % g.width;
    Span hs = covering(h, g.out_height, g), ws = covering(w, g.out_width, g);
    float sum = dx[i];
    for (int oh = hs.begin; oh < hs.end; ++oh)
      for (int ow = ws.begin; ow < ws.end; ++ow) {
        int64_t o = plane * g.out_plane() + int64_t{oh} * g.out_width + ow;
        if (argmax[o] == at) sum += dout[o];
      }
    dx[i] = sum;
  }
};

// Padding counts as zeros (count_include_pad=True): the divisor is always kernel^2.
__device__ float inverse_area(const PoolGeometry& g) {
  return 1.0f / static_cast<float>(g.kernel * g.kernel);
}

struct AvgPoolForward {
  float* out;
  const float* x;
  PoolGeometry g;
  __device__ void operator()(int64_t o) const {
    int64_t plane = o / g.out_plane();
    int oh = static_cast<int>(o % g.out_plane() / g.out_width);
    int ow = static_cast<int>(o % g.out_width);
    const float* xp = x + plane * g.in_plane();
    Span hs = window(oh, g.height, g), ws = window(ow, g.width, g);
    float sum = 0.0f;
    for (int h = hs.begin; h < hs.end; ++h)
      for (int w = ws.begin; w < ws.end; ++w) sum += xp[h * g.width + w];
    out[o] = sum * inverse_area(g);
  }
};

struct AvgPoolBackward {
  float* dx;
  const float* dout;
  PoolGeometry g;
  __device__ void operator()(int64_t i) const {
    int64_t plane = i / g.in_plane();
    int at = static_cast<int>(i % g.in_plane());
    Span hs = covering(at / g.width, g.out_height, g);
    Span ws = covering(at % g.width, g.out_width, g);
    float sum = dx[i];
    for (int oh = hs.begin; oh < hs.end; ++oh)
      for (int ow = ws.begin; ow < ws.end; ++ow)
        sum += dout[plane * g.out_plane() + int64_t{oh} * g.out_width + ow] * inverse_area(g);
    dx[i] = sum;
  }
};

struct PlaneValues {
  const float* x;
  int64_t plane_size;
  __device__ double operator()(int64_t p, int64_t k) const { return x[p * plane_size + k]; }
};

struct StorePlaneMean {
  float* out;
  int64_t plane_size;
  __device__ void operator()(int64_t p, double sum) const {
    out[p] = static_cast<float>(sum / static_cast<double>(plane_size));
  }
};

struct GlobalAvgPoolBackward {
  float* dx;
  const float* dout;
  int64_t plane_size;
  __device__ void operator()(int64_t i) const {
    dx[i] += dout[i / plane_size] * (1.0f / static_cast<float>(plane_size));
  }
};

int64_t inputs(const PoolGeometry& g) { return int64_t{g.planes} * g.height * g.width; }
int64_t outputs(const PoolGeometry& g) { return int64_t{g.planes} * g.out_height * g.out_width; }

}  // namespace

void max_pool_forward(float* out, int32_t* argmax, const float* x, const PoolGeometry& g) {
  for_each_index("max_pool_forward", outputs(g), MaxPoolForward{out, argmax, x, g});
}

void max_pool_backward(float* dx, const float* dout, const int32_t* argmax, const PoolGeometry& g) {
  if (!dx) return;
  for_each_index("max_pool_backward", inputs(g), MaxPoolBackward{dx, dout, argmax, g});
}

void avg_pool_forward(float* out, const float* x, const PoolGeometry& g) {
  for_each_index("avg_pool_forward", outputs(g), AvgPoolForward{out, x, g});
}

void avg_pool_backward(float* dx, const float* dout, const PoolGeometry& g) {
  if (!dx) return;
  for_each_index("avg_pool_backward", inputs(g), AvgPoolBackward{dx, dout, g});
}

void global_avg_pool_forward(float* out, const float* x, int planes, int64_t plane_size) {
  reduce_each("global_avg_pool_forward", planes, plane_size, PlaneValues{x, plane_size},
              StorePlaneMean{out, plane_size});
}

void global_avg_pool_backward(float* dx, const float* dout, int planes, int64_t plane_size) {
  if (!dx) return;
  for_each_index("global_avg_pool_backward", planes * plane_size,
                 GlobalAvgPoolBackward{dx, dout, plane_size});
}

}  // namespace engine::cuda
