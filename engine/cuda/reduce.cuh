// Deterministic sums on the device (private to engine/cuda/).
//
// reduce_each sums count terms for each of n_out outputs, in double. Each output's terms are
// split into segments; one block sums one segment (a fixed thread-to-term assignment and a
// fixed shuffle tree), and a second kernel adds each output's segment sums in order. No
// atomics, so the result is the same run to run; segments keep the GPU busy when there are
// few outputs with many terms each (a bias gradient, a per-tensor scale).
#pragma once

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "engine/cuda/launch.cuh"
#include "engine/cuda/scratch.h"

namespace engine::cuda {

struct Add {
  template <class T>
  __device__ T operator()(T x, T y) const {
    return x + y;
  }
};

// op over the block's values, returned to every thread. blockDim.x must be a multiple of 32.
template <class T, class Op>
__device__ T block_reduce(T value, Op op) {
  __shared__ T warp_results[32];
  __shared__ T result;
  for (int offset = 16; offset > 0; offset /= 2)
    value = op(value, __shfl_down_sync(0xffffffffu, value, offset));
  if (threadIdx.x % 32 == 0) warp_results[threadIdx.x / 32] = value;
  __syncthreads();
  if (threadIdx.x == 0) {
    T total = warp_results[0];
    for (unsigned w = 1; w < blockDim.x / 32; ++w) total = op(total, warp_results[w]);
    result = total;
  }
  __syncthreads();
  T total = result;
  __syncthreads();  // so that a following call may reuse the shared slots
  return total;
}

// Block b sums the terms of segment b % segments of output b / segments.
template <class Terms>
__global__ void segment_sums_kernel(double* partial, Terms terms, int64_t count,
                                    int64_t segment_length, int64_t segments) {
  const int64_t out = blockIdx.x / segments;
  const int64_t begin = blockIdx.x % segments * segment_length;
  const int64_t end = begin + segment_length < count ? begin + segment_length : count;
  double sum = 0.0;
  for (int64_t k = begin + threadIdx.x; k < end; k += blockDim.x) sum += terms(out, k);
  sum = block_reduce(sum, Add());
  if (threadIdx.x == 0) partial[blockIdx.x] = sum;
}

template <class Finish>
struct FinishSegments {
  const double* partial;
  int64_t segments;
  Finish finish;

  __device__ void operator()(int64_t out) const {
    double total = 0.0;
    for (int64_t s = 0; s < segments; ++s) total += partial[out * segments + s];
    finish(out, total);
  }
};

// For every out in [0, n_out): finish(out, the sum over k in [0, count) of terms(out, k)).
// terms is a functor __device__ double (int64_t out, int64_t k); finish one
// __device__ void (int64_t out, double total).
template <class Terms, class Finish>
void reduce_each(const char* kernel, int64_t n_out, int64_t count, const Terms& terms,
                 const Finish& finish) {
  if (n_out <= 0) return;
  // Enough blocks to fill the GPU, but no segment so short that splitting costs more than it
  // gains.
  constexpr int64_t kTargetBlocks = 2048, kMinSegment = 2048;
  const int64_t most = std::max<int64_t>(1, (count + kMinSegment - 1) / kMinSegment);
  const int64_t segments = std::clamp<int64_t>((kTargetBlocks + n_out - 1) / n_out, 1, most);
  const int64_t segment_length = (count + segments - 1) / segments;
  const int threads =
      static_cast<int>(std::clamp<int64_t>((segment_length + 31) / 32 * 32, 32, 256));
  if (n_out * segments > INT32_MAX)
    throw std::invalid_argument(std::string("cuda: ") + kernel + ": too many outputs to reduce");
  DeviceArray<double> partial(n_out * segments);
  segment_sums_kernel<<<static_cast<unsigned>(n_out * segments), threads>>>(
      partial.get(), terms, count, segment_length, segments);
  check_launch(kernel);
  for_each_index(kernel, n_out, FinishSegments<Finish>{partial.get(), segments, finish});
}

}  // namespace engine::cuda
