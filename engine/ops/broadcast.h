// NumPy-style broadcasting of two shapes, shared by the binary elementwise ops.
#pragma once

#include <algorithm>
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
  void for_each(F f) const {
    for_each(0, numel_of(out_), f);
  }
  // The same for the output elements [begin, end): one thread's share of a loop.
  template <class F>
  void for_each(int64_t begin, int64_t end, F f) const;
  bool identity() const { return identity_; }
  // When blocked, the output is (outer, mid, inner) and element (o, m, k) reads input m; mid is 1
  // when every element reads input 0 (a scalar).
  bool blocked() const { return blocked_; }
  int64_t outer() const { return outer_; }
  int64_t mid() const { return mid_; }
  int64_t inner() const { return inner_; }
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
void BroadcastIndex::for_each(int64_t begin, int64_t end, F f) const {
  if (begin >= end) return;
  if (identity_) {
    for (int64_t i = begin; i < end; ++i) f(i, i);
    return;
  }
  if (blocked_ && mid_ == 1) {
    for (int64_t i = begin; i < end; ++i) f(i, 0);
    return;
  }
  if (blocked_) {
    // Runs of `inner` elements that read the same input element m.
    int64_t m = begin / inner_ % mid_;
    for (int64_t i = begin; i < end; m = m + 1 == mid_ ? 0 : m + 1) {
      int64_t run_end = std::min(end, (i / inner_ + 1) * inner_);
      for (; i < run_end; ++i) f(i, m);
    }
    return;
  }
  int nd = static_cast<int>(out_.size());
  std::vector<int> pos(nd, 0);
  int64_t in = 0, rest = begin;
  for (int d = nd - 1; d >= 0; --d) {
    pos[d] = static_cast<int>(rest % out_[d]);
    rest /= out_[d];
    in += pos[d] * in_stride_[d];
  }
  for (int64_t i = begin; i < end; ++i) {
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
