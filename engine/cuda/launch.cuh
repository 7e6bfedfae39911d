// Launch and error-checking helpers shared by the CUDA kernels (private to engine/cuda/).
//
// Every CUDA runtime call goes through check(), which turns a failure into
// std::runtime_error("cuda: <call>: <reason>"). Elementwise work is a functor with a
// __device__ operator()(int64_t i), run once per index by a grid-stride loop on the default
// stream, so each kernel file writes only the per-element body.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace engine::cuda {

inline void check(cudaError_t status, const char* call) {
  if (status != cudaSuccess)
    throw std::runtime_error(std::string("cuda: ") + call + ": " + cudaGetErrorString(status));
}

// Kernel launches report configuration errors only through cudaGetLastError.
inline void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

constexpr int kThreads = 256;
// The grid-stride loop covers any n, so the grid need not grow past what fills the GPU.
constexpr int64_t kMaxBlocks = int64_t{1} << 16;

inline int64_t blocks_for(int64_t n) {
  return std::min<int64_t>((n + kThreads - 1) / kThreads, kMaxBlocks);
}

template <class Body>
__global__ void for_each_index_kernel(int64_t n, Body body) {
  const int64_t step = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += step) body(i);
}

// Calls body(i) for every i in [0, n) on the device.
template <class Body>
void for_each_index(const char* kernel, int64_t n, const Body& body) {
  if (n <= 0) return;
  for_each_index_kernel<<<static_cast<unsigned>(blocks_for(n)), kThreads>>>(n, body);
  check_launch(kernel);
}

}  // namespace engine::cuda
