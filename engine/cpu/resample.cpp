// CPU kernels of resampling. Kernels loop over planes in parallel and each plane is done by one
// thread in a fixed order, so results are deterministic.
#include <algorithm>

#include "engine/kernels.h"
#include "engine/threads.h"

namespace engine::cpu {

namespace {

// Index i in [-pad, n + pad) mirrored into [0, n) without repeating the edge (PyTorch's
// "reflect"): -1 -> 1, n -> n - 2. Valid for pad < n.
int reflect(int i, int n) { return i < 0 ? -i : (i >= n ? 2 * (n - 1) - i : i); }

}  // namespace

// out (planes, 2H, 2W): out[h][w] = x[h / 2][w / 2], PyTorch's nearest with scale_factor 2.
void upsample_nearest2x_forward(float* out, const float* x, int planes, int H, int W) {
  int64_t in_plane = int64_t{H} * W, out_plane = 4 * in_plane;
#pragma omp parallel for schedule(static) if (worth_threads(planes * out_plane))
  for (int p = 0; p < planes; ++p)
    for (int h = 0; h < 2 * H; ++h)
      for (int w = 0; w < 2 * W; ++w)
        out[p * out_plane + int64_t{h} * 2 * W + w] = x[p * in_plane + int64_t{h / 2} * W + w / 2];
}

void upsample_nearest2x_backward(float* dx, const float* dout, int planes, int H, int W) {
  int64_t in_plane = int64_t{H} * W, out_plane = 4 * in_plane;
#pragma omp parallel for schedule(static) if (worth_threads(planes * out_plane))
  for (int p = 0; p < planes; ++p)
    for (int h = 0; h < 2 * H; ++h)
      for (int w = 0; w < 2 * W; ++w)
        dx[p * in_plane + int64_t{h / 2} * W + w / 2] +=
            dout[p * out_plane + int64_t{h} * 2 * W + w];
}

// out (planes, H + 2 pad, W + 2 pad).
void reflection_pad2d_forward(float* out, const float* x, int planes, int H, int W, int pad) {
  int OH = H + 2 * pad, OW = W + 2 * pad;
  int64_t in_plane = int64_t{H} * W, out_plane = int64_t{OH} * OW;
#pragma omp parallel for schedule(static) if (worth_threads(planes * out_plane))
  for (int p = 0; p < planes; ++p)
    for (int h = 0; h < OH; ++h)
      for (int w = 0; w < OW; ++w)
        out[p * out_plane + int64_t{h} * OW + w] =
            x[p * in_plane + int64_t{reflect(h - pad, H)} * W + reflect(w - pad, W)];
}

void reflection_pad2d_backward(float* dx, const float* dout, int planes, int H, int W, int pad) {
  int OH = H + 2 * pad, OW = W + 2 * pad;
  int64_t in_plane = int64_t{H} * W, out_plane = int64_t{OH} * OW;
#pragma omp parallel for schedule(static) if (worth_threads(planes * out_plane))
  for (int p = 0; p < planes; ++p)
    for (int h = 0; h < OH; ++h)
      for (int w = 0; w < OW; ++w)
        dx[p * in_plane + int64_t{reflect(h - pad, H)} * W + reflect(w - pad, W)] +=
            dout[p * out_plane + int64_t{h} * OW + w];
}

// out (planes, box.height, box.width) = x[:, :, top:top+height, left:left+width].
void crop2d_forward(float* out, const float* x, const CropBox& box, int planes, int H, int W) {
  int64_t in_plane = int64_t{H} * W, out_plane = int64_t{box.height} * box.width;
#pragma omp parallel for schedule(static) if (worth_threads(planes * out_plane))
  for (int p = 0; p < planes; ++p)
    for (int h = 0; h < box.height; ++h)
      for (int w = 0; w < box.width; ++w)
        out[p * out_plane + int64_t{h} * box.width + w] =
            x[p * in_plane + int64_t{box.top + h} * W + box.left + w];
}

void crop2d_backward(float* dx, const float* dout, const CropBox& box, int planes, int H, int W) {
  int64_t in_plane = int64_t{H} * W, out_plane = int64_t{box.height} * box.width;
#pragma omp parallel for schedule(static) if (worth_threads(planes * out_plane))
  for (int p = 0; p < planes; ++p)
    for (int h = 0; h < box.height; ++h)
      for (int w = 0; w < box.width; ++w)
        dx[p * in_plane + int64_t{box.top + h} * W + box.left + w] +=
            dout[p * out_plane + int64_t{h} * box.width + w];
}

// out (N, C + 2 pad, OH, OW) with OH = ceil(H / 2), OW = ceil(W / 2): channel pad + c holds
// x[n, c, ::2, ::2]; the pad channels on either side are zero.
void shortcut_forward(float* out, const float* x, int N, int C, int H, int W, int pad) {
  int OC = C + 2 * pad, OH = (H + 1) / 2, OW = (W + 1) / 2;
  int64_t in_plane = int64_t{H} * W, out_plane = int64_t{OH} * OW;
#pragma omp parallel for schedule(static) if (worth_threads(int64_t{N} * OC * out_plane))
  for (int64_t op = 0; op < int64_t{N} * OC; ++op) {
    int64_t n = op / OC;
    int c = static_cast<int>(op % OC) - pad;
    float* o = out + op * out_plane;
    if (c < 0 || c >= C) {
      std::fill(o, o + out_plane, 0.0f);
      continue;
    }
    const float* xp = x + (n * C + c) * in_plane;
    for (int h = 0; h < OH; ++h)
      for (int w = 0; w < OW; ++w) o[int64_t{h} * OW + w] = xp[int64_t{2 * h} * W + 2 * w];
  }
}

void shortcut_backward(float* dx, const float* dout, int N, int C, int H, int W, int pad) {
  int OC = C + 2 * pad, OH = (H + 1) / 2, OW = (W + 1) / 2;
  int64_t in_plane = int64_t{H} * W, out_plane = int64_t{OH} * OW;
#pragma omp parallel for schedule(static) if (worth_threads(int64_t{N} * C * out_plane))
  for (int64_t ip = 0; ip < int64_t{N} * C; ++ip) {
    int64_t n = ip / C;
    int c = static_cast<int>(ip % C);
    const float* g = dout + (n * OC + pad + c) * out_plane;
    float* dxp = dx + ip * in_plane;
    for (int h = 0; h < OH; ++h)
      for (int w = 0; w < OW; ++w) dxp[int64_t{2 * h} * W + 2 * w] += g[int64_t{h} * OW + w];
  }
}

}  // namespace engine::cpu
