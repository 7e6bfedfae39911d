// CPU kernels of the reductions: sums and unbiased standard deviations through the index map
// that sends each input element to the output element it reduces into. Sums are accumulated in
// double (BN statistics sum over N*H*W, up to 10^5 elements and more), in input order.
#include <cmath>
#include <vector>

#include "engine/kernels.h"

namespace engine::cpu {

namespace {

std::vector<double> sums(const float* x, const BroadcastIndex& map, int64_t n_out) {
  std::vector<double> acc(n_out, 0.0);
  map.for_each([&](int64_t i, int64_t j) { acc[j] += x[i]; });
  return acc;
}

}  // namespace

void sum_forward(float* out, const float* x, const BroadcastIndex& map, int64_t n_out,
                 double scale) {
  std::vector<double> acc = sums(x, map, n_out);
  for (int64_t j = 0; j < n_out; ++j) out[j] = static_cast<float>(acc[j] * scale);
}

void sum_backward(float* dx, const float* dout, const BroadcastIndex& map, float scale) {
  map.for_each([&](int64_t i, int64_t j) { dx[i] += dout[j] * scale; });
}

// std = sqrt(sum (x - m)^2 / (n - 1)), two passes in double.
void std_forward(float* out, float* mean, const float* x, const BroadcastIndex& map,
                 int64_t n_out, int64_t count) {
  std::vector<double> m = sums(x, map, n_out);
  for (double& v : m) v /= static_cast<double>(count);
  std::vector<double> ss(n_out, 0.0);
  map.for_each([&](int64_t i, int64_t j) {
    double d = x[i] - m[j];
    ss[j] += d * d;
  });
  for (int64_t j = 0; j < n_out; ++j) {
    out[j] = static_cast<float>(std::sqrt(ss[j] / static_cast<double>(count - 1)));
    mean[j] = static_cast<float>(m[j]);
  }
}

// d std / d x_i = (x_i - m) / ((n - 1) std); 0 where std is 0.
void std_backward(float* dx, const float* dout, const float* out, const float* mean,
                  const float* x, const BroadcastIndex& map, int64_t count) {
  map.for_each([&](int64_t i, int64_t j) {
    if (out[j] > 0.0f)
      dx[i] += dout[j] * (x[i] - mean[j]) / (static_cast<float>(count - 1) * out[j]);
  });
}

}  // namespace engine::cpu
