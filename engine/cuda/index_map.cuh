// Broadcast index maps in a form kernels can take by value (private to engine/cuda/).
//
// A BroadcastIndex maps each element of a large array (its output shape) to the element of a
// small array it reads (the input, broadcast). On the device it is used both ways:
//   IndexMap: large index i -> small index, for forward reads (and reduction backwards);
//   Fanin:    small index j and k in [0, fan) -> the k-th large index that reads j, so that one
//             block can sum over everything that reads j (broadcast gradients, reductions)
//             deterministically, without atomics.
// Both first drop size-1 dims and merge neighbouring dims that step through the small array
// as one, so a per-channel map of (N, C, H, W) becomes three dims and a scalar's one.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/ops/broadcast.h"

namespace engine::cuda {

constexpr int kMaxDims = 8;

// Large index i -> small index, as BroadcastIndex::for_each visits them.
struct IndexMap {
  bool identity;
  int dims;
  int64_t size[kMaxDims], stride[kMaxDims];  // large-array dims; stride in the small array

  __device__ int64_t operator()(int64_t i) const {
    if (identity) return i;
    int64_t at = 0;
#pragma unroll
    for (int d = kMaxDims - 1; d >= 0; --d)
      if (d < dims) {
        at += i % size[d] * stride[d];
        i /= size[d];
      }
    return at;
  }
};

// For small element j, the fan large elements that read it.
struct Fanin {
  int kept_dims, fan_dims;
  // kept: dims along which the small array varies; fan: the broadcast ones it does not. Sizes
  // and strides in the large array.
  int64_t kept_size[kMaxDims], kept_stride[kMaxDims];
  int64_t fan_size[kMaxDims], fan_stride[kMaxDims];
  int64_t small_count, fan;

  __device__ int64_t large_index(int64_t j, int64_t k) const {
    int64_t at = 0;
#pragma unroll
    for (int d = kMaxDims - 1; d >= 0; --d)
      if (d < kept_dims) {
        at += j % kept_size[d] * kept_stride[d];
        j /= kept_size[d];
      }
#pragma unroll
    for (int d = kMaxDims - 1; d >= 0; --d)
      if (d < fan_dims) {
        at += k % fan_size[d] * fan_stride[d];
        k /= fan_size[d];
      }
    return at;
  }
};

namespace detail {

struct Dims {
  std::vector<int64_t> size, stride;  // large-array sizes; strides in the small array
};

// Drops size-1 dims and merges d into the previous dim when the two step through the small
// array as one (contiguously, or both broadcast).
inline Dims collapse(const BroadcastIndex& map) {
  const Shape& sizes = map.out_shape();
  const std::vector<int64_t>& strides = map.in_strides();
  Dims dims;
  for (size_t d = 0; d < sizes.size(); ++d) {
    if (sizes[d] == 1) continue;
    if (!dims.size.empty() && dims.stride.back() == strides[d] * sizes[d]) {
      dims.size.back() *= sizes[d];
      dims.stride.back() = strides[d];
      continue;
    }
    dims.size.push_back(sizes[d]);
    dims.stride.push_back(strides[d]);
  }
  if (dims.size.size() > kMaxDims)
    throw std::invalid_argument("cuda: broadcast over " + std::to_string(dims.size.size()) +
                                " separate dims, more than the " + std::to_string(kMaxDims) +
                                " the CUDA kernels take");
  return dims;
}

}  // namespace detail

inline IndexMap index_map(const BroadcastIndex& map) {
  IndexMap m{map.identity(), 0, {}, {}};
  if (m.identity) return m;
  detail::Dims dims = detail::collapse(map);
  for (size_t d = 0; d < dims.size.size(); ++d) {
    m.size[d] = dims.size[d];
    m.stride[d] = dims.stride[d];
  }
  m.dims = static_cast<int>(dims.size.size());
  // An input that differs from the output only by size-1 dims is read in order.
  m.identity = m.dims == 1 && m.stride[0] == 1;
  return m;
}

inline Fanin fanin(const BroadcastIndex& map) {
  detail::Dims dims = detail::collapse(map);
  Fanin f{0, 0, {}, {}, {}, {}, 1, 1};
  int64_t large_stride = 1;
  // Innermost first, so that each dim's large stride is the product of the sizes after it;
  // then reversed into row-major order.
  std::vector<int64_t> kept_size, kept_stride, fan_size, fan_stride;
  for (int d = static_cast<int>(dims.size.size()) - 1; d >= 0; --d) {
    bool kept = dims.stride[d] != 0;
    (kept ? kept_size : fan_size).push_back(dims.size[d]);
    (kept ? kept_stride : fan_stride).push_back(large_stride);
    (kept ? f.small_count : f.fan) *= dims.size[d];
    large_stride *= dims.size[d];
  }
  f.kept_dims = static_cast<int>(kept_size.size());
  f.fan_dims = static_cast<int>(fan_size.size());
  for (int d = 0; d < f.kept_dims; ++d) {
    f.kept_size[d] = kept_size[f.kept_dims - 1 - d];
    f.kept_stride[d] = kept_stride[f.kept_dims - 1 - d];
  }
  for (int d = 0; d < f.fan_dims; ++d) {
    f.fan_size[d] = fan_size[f.fan_dims - 1 - d];
    f.fan_stride[d] = fan_stride[f.fan_dims - 1 - d];
  }
  return f;
}

}  // namespace engine::cuda
