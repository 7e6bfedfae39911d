// Resampling and spatial index maps: nearest 2x upsampling, reflection padding, cropping, and
// the subsample-and-pad-channels ResNet shortcut (engine/ops/resample.cpp).
//
// Forwards are one thread per output element. Where several outputs read one input
// (upsampling, reflection), the backward is a gather: one thread per input element adds the
// gradients of its readers in output order, starting from dx, so there are no atomics and the
// order is the CPU's. Crop and shortcut read each input at most once: one thread per output.
#include "engine/cuda/launch.cuh"
#include "engine/kernels.h"

namespace engine::cuda {

namespace {

struct UpsampleForward {
  float* out;
  const float* x;
  int H, W;
  __device__ void operator()(int64_t o) const {
    int64_t plane = o / (4 * int64_t{H} * W);
    int h = static_cast<int>(o / (2 * W) % (2 * H)), w = static_cast<int>(o % (2 * W));
    out[o] = x[(plane * H + h / 2) * W + w / 2];
  }
};

// dx[h][w] += the gradients of the 2x2 outputs it was copied to.
struct UpsampleBackward {
  float* dx;
  const float* dout;
  int H, W;
  __device__ void operator()(int64_t i) const {
    int64_t plane = i / (int64_t{H} * W);
    int h = static_cast<int>(i / W % H), w = static_cast<int>(i % W);
    const float* g = dout + (plane * 2 * H + 2 * h) * 2 * W + 2 * w;
    float sum = dx[i];
    sum += g[0];
    sum += g[1];
    sum += g[2 * W];
    sum += g[2 * W + 1];
    dx[i] = sum;
  }
};

// Index i in [-pad, n + pad) mirrored into [0, n) without repeating the edge (PyTorch's
// "reflect"): -1 -> 1, n -> n - 2. Valid for pad < n.
__device__ int reflect(int i, int n) { return i < 0 ? -i : (i >= n ? 2 * (n - 1) - i : i); }

// The padded positions, ascending, that read position i of an axis of n: the left mirror
// pad - i, i itself, and the right mirror; returns how many (1 to 3).
__device__ int readers(int i, int n, int pad, int* positions) {
  int count = 0;
  if (i >= 1 && i <= pad) positions[count++] = pad - i;
  positions[count++] = pad + i;
  if (i <= n - 2 && i >= n - 1 - pad) positions[count++] = pad + 2 * (n - 1) - i;
  return count;
}

struct ReflectionPadForward {
  float* out;
  const float* x;
  int H, W, pad;
  __device__ void operator()(int64_t o) const {
    int OH = H + 2 * pad, OW = W + 2 * pad;
    int64_t plane = o / (int64_t{OH} * OW);
    int h = static_cast<int>(o / OW % OH), w = static_cast<int>(o % OW);
    out[o] = x[(plane * H + reflect(h - pad, H)) * W + reflect(w - pad, W)];
  }
};

struct ReflectionPadBackward {
  float* dx;
  const float* dout;
  int H, W, pad;
  __device__ void operator()(int64_t i) const {
    int OH = H + 2 * pad, OW = W + 2 * pad;
    int64_t plane = i / (int64_t{H} * W);
    int rows[3], columns[3];
    int n_rows = readers(static_cast<int>(i / W % H), H, pad, rows);
    int n_columns = readers(static_cast<int>(i % W), W, pad, columns);
    float sum = dx[i];
    for (int r = 0; r < n_rows; ++r)
      for (int c = 0; c < n_columns; ++c) sum += dout[(plane * OH + rows[r]) * OW + columns[c]];
    dx[i] = sum;
  }
};

// Output o of the crop and the input element it reads.
struct CropMap {
  CropBox box;
  int H, W;
  __device__ int64_t input(int64_t o) const {
    int64_t plane = o / (int64_t{box.height} * box.width);
    int h = static_cast<int>(o / box.width % box.height), w = static_cast<int>(o % box.width);
    return (plane * H + box.top + h) * W + box.left + w;
  }
};

struct CropForward {
  float* out;
  const float* x;
  CropMap map;
  __device__ void operator()(int64_t o) const { out[o] = x[map.input(o)]; }
};

struct CropBackward {
  float* dx;
  const float* dout;
  CropMap map;
  __device__ void operator()(int64_t o) const { dx[map.input(o)] += dout[o]; }
};

// out (N, C + 2 pad, OH, OW) with OH = ceil(H / 2), OW = ceil(W / 2): channel pad + c holds
// x[n, c, ::2, ::2]; the pad channels on either side are zero.
struct ShortcutMap {
  int C, H, W, pad;
  __device__ int OH() const { return (H + 1) / 2; }
  __device__ int OW() const { return (W + 1) / 2; }
  // The input element output o reads, or -1 in a pad channel.
  __device__ int64_t input(int64_t o) const {
    int64_t out_plane = int64_t{OH()} * OW();
    int64_t n = o / (out_plane * (C + 2 * pad));
    int c = static_cast<int>(o / out_plane % (C + 2 * pad)) - pad;
    if (c < 0 || c >= C) return -1;
    int h = static_cast<int>(o % out_plane / OW()), w = static_cast<int>(o % OW());
    return ((n * C + c) * H + 2 * h) * W + 2 * w;
  }
};

struct ShortcutForward {
  float* out;
  const float* x;
  ShortcutMap map;
  __device__ void operator()(int64_t o) const {
    int64_t i = map.input(o);
    out[o] = i < 0 ? 0.0f : x[i];
  }
};

struct ShortcutBackward {
  float* dx;
  const float* dout;
  ShortcutMap map;
  __device__ void operator()(int64_t o) const {
    int64_t i = map.input(o);
    if (i >= 0) dx[i] += dout[o];
  }
};

int64_t shortcut_outputs(int N, int C, int H, int W, int pad) {
  return int64_t{N} * (C + 2 * pad) * ((H + 1) / 2) * ((W + 1) / 2);
}

}  // namespace

void upsample_nearest2x_forward(float* out, const float* x, int planes, int H, int W) {
  for_each_index("upsample_nearest2x_forward", int64_t{planes} * 4 * H * W,
                 UpsampleForward{out, x, H, W});
}

void upsample_nearest2x_backward(float* dx, const float* dout, int planes, int H, int W) {
  if (!dx) return;
  for_each_index("upsample_nearest2x_backward", int64_t{planes} * H * W,
                 UpsampleBackward{dx, dout, H, W});
}

void reflection_pad2d_forward(float* out, const float* x, int planes, int H, int W, int pad) {
  for_each_index("reflection_pad2d_forward", int64_t{planes} * (H + 2 * pad) * (W + 2 * pad),
                 ReflectionPadForward{out, x, H, W, pad});
}

void reflection_pad2d_backward(float* dx, const float* dout, int planes, int H, int W, int pad) {
  if (!dx) return;
  for_each_index("reflection_pad2d_backward", int64_t{planes} * H * W,
                 ReflectionPadBackward{dx, dout, H, W, pad});
}

void crop2d_forward(float* out, const float* x, const CropBox& box, int planes, int H, int W) {
  for_each_index("crop2d_forward", int64_t{planes} * box.height * box.width,
                 CropForward{out, x, CropMap{box, H, W}});
}

void crop2d_backward(float* dx, const float* dout, const CropBox& box, int planes, int H, int W) {
  if (!dx) return;
  for_each_index("crop2d_backward", int64_t{planes} * box.height * box.width,
                 CropBackward{dx, dout, CropMap{box, H, W}});
}

void shortcut_forward(float* out, const float* x, int N, int C, int H, int W, int pad) {
  for_each_index("shortcut_forward", shortcut_outputs(N, C, H, W, pad),
                 ShortcutForward{out, x, ShortcutMap{C, H, W, pad}});
}

void shortcut_backward(float* dx, const float* dout, int N, int C, int H, int W, int pad) {
  if (!dx) return;
  for_each_index("shortcut_backward", shortcut_outputs(N, C, H, W, pad),
                 ShortcutBackward{dx, dout, ShortcutMap{C, H, W, pad}});
}

}  // namespace engine::cuda
