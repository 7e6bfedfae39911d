// NumPy-style broadcasting of two shapes, shared by the binary elementwise ops.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/tensor.h"

namespace engine {

// For an output element index, the index of the element it reads in an input. An input dim
// of size 1 (or a missing leading dim) is read with stride 0.
class BroadcastIndex {
 public:
  BroadcastIndex(const Shape& input, const Shape& output);
  // Visits every output element in order, calling f(out_index, in_index).
  template <class F>
  void for_each(F f) const;
  bool identity() const { return identity_; }
  // For backends that compute the index themselves: the output shape and, per output dim, the
  // input's stride (0 where broadcast).
  const Shape& out_shape() const { return out_; }
  const std::vector<int64_t>& in_strides() const { return in_stride_; }

 private:
  Shape out_;
  std::vector<int64_t> in_stride_;  // (out ndim), 0 where broadcast
  bool identity_;
  // When the input's dims are one contiguous run of the output's (a per-channel value on
  // (N, C, H, W), a scalar, a per-image statistic), the output is (outer, mid, inner) and the
  // input index is the middle one: three plain loops instead of the general odometer.
  bool blocked_ = false;
  int64_t outer_ = 1, mid_ = 1, inner_ = 1;
};

Shape broadcast_shape(const Shape& a, const Shape& b);

template <class F>
void BroadcastIndex::for_each(F f) const {
  int64_t n = numel_of(out_);
  if (identity_) {
    for (int64_t i = 0; i < n; ++i) f(i, i);
    return;
  }
  if (blocked_) {
    int64_t i = 0;
    for (int64_t o = 0; o < outer_; ++o)
      for (int64_t m = 0; m < mid_; ++m)
        for (int64_t k = 0; k < inner_; ++k) f(i++, m);
    return;
  }
  int nd = static_cast<int>(out_.size());
  std::vector<int> pos(nd, 0);
  int64_t in = 0;
  for (int64_t i = 0; i < n; ++i) {
    f(i, in);
    // Advance the multi-index like an odometer, keeping the input offset in step.
    for (int d = nd - 1; d >= 0; --d) {
      in += in_stride_[d];
      if (++pos[d] < out_[d]) break;
      in -= in_stride_[d] * out_[d];
      pos[d] = 0;
    }
  }
}

}  // namespace engine
