// CPU kernels of the 2-D convolution: im2col + sgemm.
//
// Shapes: x (N, C, H, W), w (K, C, R, S), bias (K), out (N, K, P, Q); see engine/cpu/im2col.h.
// The batch is split into one contiguous group of images per thread; each thread lowers its
// images a chunk at a time into one column matrix (C*R*S, B*P*Q), so each chunk is a single
// large sgemm even when P*Q is small (late ResNet stages), while the column buffer stays
// bounded when the images are large. Each thread adds its dw into its own buffer; the buffers
// are summed in thread order, so results are deterministic for a given thread count.
//   forward:  staged (K, B*P*Q) = w (K, C*R*S) x columns, then scattered to out with the bias
//   dw:       dw += staged dout (K, B*P*Q) x columns^T
//   dx:       columns = w^T x staged dout, then col2im adds them into dx, in smaller chunks
//             whose columns stay in the cache (images_per_cached_chunk)
//   dbias:    the sum of dout over N, P, Q
#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/cpu/gemm.h"
#include "engine/cpu/im2col.h"
#include "engine/kernels.h"

#include <omp.h>

namespace engine::cpu {

namespace {

// The size cap in floats (32 MiB) of each chunk buffer, columns (C*R*S, B*P*Q) and staged
// (K, B*P*Q): past it the sgemm is already large and more images per chunk only cost memory
// (an ImageNet stem lowers 1.8M floats per image).
constexpr int64_t kChunkBudget = int64_t{8} << 20;

int images_per_chunk(const ConvGeometry& g) {
  int64_t fit = kChunkBudget / (std::max<int64_t>(g.patch(), g.K) * g.pixels());
  return static_cast<int>(std::clamp<int64_t>(fit, 1, std::max(g.N, 1)));
}

// The images per chunk of dx: as many as keep its columns (C*R*S, B*P*Q) within about 1 MiB,
// so that they stay in the cache from the sgemm that writes them to col2im, which reads them.
// dx sums over K alone, and OpenBLAS gives each column the same bits whatever the chunk (checked
// for every ResNet-20 shape). The forward keeps its large chunks: there, small ones can send
// OpenBLAS down another kernel path with another rounding; and dw sums over the chunk itself.
constexpr int64_t kCachedColumns = int64_t{1} << 18;

int images_per_cached_chunk(const ConvGeometry& g, int group) {
  int64_t fit = kCachedColumns / (g.patch() * g.pixels());
  return static_cast<int>(std::clamp<int64_t>(fit, 1, std::max(group, 1)));
}

// A per-thread buffer of at least n floats. Every conv of every step needs buffers of tens of
// MB, so they are kept and only ever grown rather than reallocated per call.
float* scratch(std::vector<float>& buffer, int64_t n) {
  if (static_cast<int64_t>(buffer.size()) < n) buffer.resize(n);
  return buffer.data();
}

thread_local std::vector<float> t_columns;
thread_local std::vector<float> t_staged;

// out[first + n, k] = staged[k, n] + bias[k] for the count images of a chunk.
void unstage_output(float* out, const float* staged, const float* bias, const ConvGeometry& g,
                    int first, int count) {
  const int64_t pixels = g.pixels();
  for (int n = 0; n < count; ++n)
    for (int k = 0; k < g.K; ++k) {
      const float* from = staged + (static_cast<int64_t>(k) * count + n) * pixels;
      float* to = out + (static_cast<int64_t>(first + n) * g.K + k) * pixels;
      float b = bias ? bias[k] : 0.0f;
      for (int64_t i = 0; i < pixels; ++i) to[i] = from[i] + b;
    }
}

// staged[k, n] = dout[first + n, k]: the chunk's gradient in the columns' (K, B*P*Q) order.
void stage_gradient(float* staged, const float* dout, const ConvGeometry& g, int first, int count) {
  const int64_t pixels = g.pixels();
  for (int k = 0; k < g.K; ++k)
    for (int n = 0; n < count; ++n)
      std::copy_n(dout + (static_cast<int64_t>(first + n) * g.K + k) * pixels, pixels,
                  staged + (static_cast<int64_t>(k) * count + n) * pixels);
}

// dbias[k] += sum of dout[:, k], in double and in a fixed order per k.
void bias_backward(float* dbias, const float* dout, const ConvGeometry& g) {
  const int64_t pixels = g.pixels();
#pragma omp parallel for schedule(static)
  for (int k = 0; k < g.K; ++k) {
    double acc = 0.0;
    for (int n = 0; n < g.N; ++n) {
      const float* plane = dout + (static_cast<int64_t>(n) * g.K + k) * pixels;
      for (int64_t i = 0; i < pixels; ++i) acc += plane[i];
    }
    dbias[k] += static_cast<float>(acc);
  }
}

// The images [begin, end) of thread t of n: contiguous groups of near-equal size.
std::pair<int, int> image_group(const ConvGeometry& g, int t, int n) {
  return {static_cast<int>(static_cast<int64_t>(g.N) * t / n),
          static_cast<int>(static_cast<int64_t>(g.N) * (t + 1) / n)};
}

// dw_part += the dw of images [begin, end), one large chunk at a time.
void conv2d_weight_grad_group(float* dw_part, const float* dout, const float* x,
                              const ConvGeometry& g, int begin, int end) {
  const int chunk = images_per_chunk(g);
  float* columns = scratch(t_columns, g.patch() * chunk * g.pixels());
  float* staged = scratch(t_staged, static_cast<int64_t>(g.K) * chunk * g.pixels());
  for (int first = begin; first < end; first += chunk) {
    int count = std::min(chunk, end - first);
    stage_gradient(staged, dout, g, first, count);
    im2col(columns, x, g, first, count);
    gemm(false, true, g.K, static_cast<int>(g.patch()), static_cast<int>(count * g.pixels()), 1.0f,
         staged, columns, 1.0f, dw_part);
  }
}

// dx += the input gradient of images [begin, end), one cache-resident chunk at a time.
void conv2d_input_grad_group(float* dx, const float* dout, const float* w, const ConvGeometry& g,
                             int begin, int end) {
  const int chunk = images_per_cached_chunk(g, end - begin);
  float* columns = scratch(t_columns, g.patch() * chunk * g.pixels());
  float* staged = scratch(t_staged, static_cast<int64_t>(g.K) * chunk * g.pixels());
  for (int first = begin; first < end; first += chunk) {
    int count = std::min(chunk, end - first);
    stage_gradient(staged, dout, g, first, count);
    gemm(true, false, static_cast<int>(g.patch()), static_cast<int>(count * g.pixels()), g.K, 1.0f,
         w, staged, 0.0f, columns);
    col2im_add(dx, columns, g, first, count);
  }
}

}  // namespace

// out (N, K, P, Q); bias (K) or nullptr.
void conv2d_forward(float* out, const float* x, const float* w, const float* bias,
                    const ConvGeometry& g) {
  const int chunk = images_per_chunk(g);
#pragma omp parallel
  {
    auto [begin, end] = image_group(g, omp_get_thread_num(), omp_get_num_threads());
    float* columns = scratch(t_columns, g.patch() * chunk * g.pixels());
    float* staged = scratch(t_staged, static_cast<int64_t>(g.K) * chunk * g.pixels());
    for (int first = begin; first < end; first += chunk) {
      int count = std::min(chunk, end - first);
      int cols = static_cast<int>(count * g.pixels());
      im2col(columns, x, g, first, count);
      gemm(false, false, g.K, cols, static_cast<int>(g.patch()), 1.0f, w, columns, 0.0f, staged);
      unstage_output(out, staged, bias, g, first, count);
    }
  }
}

// Adds the gradients into dx (N, C, H, W), dw (K, C, R, S), dbias (K); a nullptr one is skipped.
void conv2d_backward(float* dx, float* dw, float* dbias, const float* dout, const float* x,
                     const float* w, const ConvGeometry& g) {
  if (dbias) bias_backward(dbias, dout, g);
  if (!dx && !dw) return;
  const int64_t w_size = g.K * g.patch();
  const int threads = omp_get_max_threads();
  std::vector<float> dw_parts(dw ? w_size * threads : 0, 0.0f);  // (threads, K, C*R*S)
#pragma omp parallel num_threads(threads)
  {
    int t = omp_get_thread_num();
    auto [begin, end] = image_group(g, t, omp_get_num_threads());
    if (dw) conv2d_weight_grad_group(dw_parts.data() + t * w_size, dout, x, g, begin, end);
    if (dx) conv2d_input_grad_group(dx, dout, w, g, begin, end);
  }
  if (!dw) return;
  for (int t = 0; t < threads; ++t)
    for (int64_t i = 0; i < w_size; ++i) dw[i] += dw_parts[t * w_size + i];
}

}  // namespace engine::cpu
