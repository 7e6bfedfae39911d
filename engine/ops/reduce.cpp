// Reductions over chosen axes: sum, mean, unbiased standard deviation.
//
// The reduced tensor, with its axes kept at size 1, broadcasts back onto the input, so one
// BroadcastIndex maps every input element to the output element it contributes to; the kernels
// (engine/cpu/reduce.cpp) walk that map.
#include <stdexcept>

#include "engine/autograd.h"
#include "engine/kernels.h"
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

// sum or mean: out = scale * sum.
Tensor scaled_sum(const Tensor& x, const std::vector<int>& axes, bool keepdim, bool average) {
  Reduction r = plan(x.shape(), axes, keepdim);
  BroadcastIndex map(r.kept, x.shape());
  Tensor out(r.out, 0.0f, x.device());
  double scale = average ? 1.0 / static_cast<double>(r.count) : 1.0;
  GENIE_KERNEL(x.device(), sum_forward)(out.data(), x.data(), map, out.numel(), scale);
  record(out, {x}, [x, o = out.node(), map, scale]() {
    GENIE_KERNEL(x.device(), sum_backward)
    (x.grad(), o->gradient(), map, static_cast<float>(scale));
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
  Tensor out(r.out, 0.0f, x.device());
  Tensor means(r.out, 0.0f, x.device());
  GENIE_KERNEL(x.device(), std_forward)
  (out.data(), means.data(), x.data(), map, out.numel(), r.count);
  record(out, {x}, [x, o = out.node(), map, means, n = r.count]() {
    GENIE_KERNEL(x.device(), std_backward)
    (x.grad(), o->gradient(), o->values(), means.data(), x.data(), map, n);
  });
  return out;
}

}  // namespace engine
