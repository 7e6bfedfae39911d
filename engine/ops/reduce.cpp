// Reductions over chosen axes: sum, mean, unbiased standard deviation.
//
// The reduced tensor, with its axes kept at size 1, broadcasts back onto the input, so one
// BroadcastIndex maps every input element to the output element it contributes to. Sums are
// accumulated in double: BN statistics sum over N*H*W, up to 10^5 elements and more.
#include <cmath>
#include <stdexcept>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/ops/broadcast.h"

namespace engine {

namespace {

struct Reduction {
  Shape kept;     // input shape with the reduced axes set to 1
  Shape out;      // kept, or without the reduced axes when !keepdim
  int64_t count;  // input elements per output element
};

Reduction plan(const Shape& in, const std::vector<int>& axes, bool keepdim) {
  int nd = static_cast<int>(in.size());
  std::vector<bool> reduced(nd, false);
  for (int a : axes) {
    int d = a < 0 ? a + nd : a;
    if (d < 0 || d >= nd)
      throw std::out_of_range("reduction axis " + std::to_string(a) + " of shape " + shape_str(in));
    reduced[d] = true;
  }
  Reduction r{in, {}, 1};
  for (int d = 0; d < nd; ++d) {
    if (reduced[d]) {
      r.count *= in[d];
      r.kept[d] = 1;
    }
    if (!reduced[d] || keepdim) r.out.push_back(r.kept[d]);
  }
  if (r.out.empty()) r.out = {1};
  return r;
}

std::vector<double> sums(const Tensor& x, const BroadcastIndex& map, int64_t n_out) {
  std::vector<double> acc(n_out, 0.0);
  const float* px = x.data();
  map.for_each([&](int64_t i, int64_t j) { acc[j] += px[i]; });
  return acc;
}

// sum or mean: out = scale * sum.
Tensor scaled_sum(const Tensor& x, const std::vector<int>& axes, bool keepdim, bool average) {
  Reduction r = plan(x.shape(), axes, keepdim);
  BroadcastIndex map(r.kept, x.shape());
  Tensor out(r.out);
  double scale = average ? 1.0 / static_cast<double>(r.count) : 1.0;
  std::vector<double> acc = sums(x, map, out.numel());
  for (int64_t j = 0; j < out.numel(); ++j) out.data()[j] = static_cast<float>(acc[j] * scale);
  record(out, {x}, [x, o = out.node(), map, scale]() mutable {
    float* gx = x.grad();
    const float* g = o->grad.data();
    float s = static_cast<float>(scale);
    map.for_each([&](int64_t i, int64_t j) { gx[i] += g[j] * s; });
  });
  return out;
}

}  // namespace

Tensor sum(const Tensor& x, const std::vector<int>& axes, bool keepdim) {
  return scaled_sum(x, axes, keepdim, false);
}

Tensor mean(const Tensor& x, const std::vector<int>& axes, bool keepdim) {
  return scaled_sum(x, axes, keepdim, true);
}

Tensor sum_all(const Tensor& x) {
  std::vector<int> all(x.ndim());
  for (int d = 0; d < x.ndim(); ++d) all[d] = d;
  return reshape(sum(x, all, false), {1});
}

Tensor mean_all(const Tensor& x) { return mul_scalar(sum_all(x), 1.0f / x.numel()); }

// std = sqrt(sum (x - m)^2 / (n - 1)); d std / d x_i = (x_i - m) / ((n - 1) std).
Tensor std_unbiased(const Tensor& x, const std::vector<int>& axes, bool keepdim) {
  Reduction r = plan(x.shape(), axes, keepdim);
  if (r.count < 2)
    throw std::invalid_argument("unbiased std over fewer than 2 elements, shape " +
                                shape_str(x.shape()));
  BroadcastIndex map(r.kept, x.shape());
  Tensor out(r.out);
  int64_t n_out = out.numel();
  std::vector<double> m = sums(x, map, n_out);
  for (double& v : m) v /= static_cast<double>(r.count);
  std::vector<double> ss(n_out, 0.0);
  const float* px = x.data();
  map.for_each([&](int64_t i, int64_t j) {
    double d = px[i] - m[j];
    ss[j] += d * d;
  });
  for (int64_t j = 0; j < n_out; ++j)
    out.data()[j] = static_cast<float>(std::sqrt(ss[j] / static_cast<double>(r.count - 1)));
  std::vector<float> meanf(m.begin(), m.end());
  record(out, {x}, [x, o = out.node(), map, meanf, n = r.count]() mutable {
    float* gx = x.grad();
    const float *g = o->grad.data(), *sd = o->data->data(), *px = x.data();
    map.for_each([&](int64_t i, int64_t j) {
      if (sd[j] > 0.0f) gx[i] += g[j] * (px[i] - meanf[j]) / (static_cast<float>(n - 1) * sd[j]);
    });
  });
  return out;
}

}  // namespace engine
