// The CUDA runtime services of engine/cuda/runtime.h: the caching device allocator, copies, and
// what the machine has.
//
// The allocator keeps one free list per rounded block size. A freed block goes back on its list
// and is handed out again for the next request of that size, so after a training loop's first
// iteration cudaMalloc (which synchronises the device) is not called again. Blocks go back to
// the driver only when cudaMalloc fails: then every cached block is freed and the call retried
// once. A block freed while kernels that use it are still queued is safe to hand out again,
// because every kernel runs on the one default stream, in order.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/cuda/launch.cuh"
#include "engine/cuda/runtime.h"

namespace engine::cuda {

namespace {

constexpr size_t kMiB = size_t{1} << 20;

// 512-byte steps below 1 MiB, 2 MiB steps above: few distinct sizes, little waste either way.
size_t block_size(size_t bytes) {
  size_t step = bytes < kMiB ? 512 : 2 * kMiB;
  return (std::max<size_t>(bytes, 1) + step - 1) / step * step;
}

std::string mib(size_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f MiB", static_cast<double>(bytes) / kMiB);
  return text;
}

class CachingAllocator {
 public:
  void* allocate(size_t bytes) {
    size_t size = block_size(bytes);
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<void*>& cached = free_[size];
    if (!cached.empty()) {
      void* block = cached.back();
      cached.pop_back();
      return block;
    }
    void* block = driver_malloc(size);
    held_ += size;
    peak_ = std::max(peak_, held_);
    return block;
  }

  void release(void* block, size_t bytes) {
    if (!block) return;
    std::lock_guard<std::mutex> lock(mutex_);
    free_[block_size(bytes)].push_back(block);
  }

  size_t peak() {
    std::lock_guard<std::mutex> lock(mutex_);
    return peak_;
  }

  void reset_peak() {
    std::lock_guard<std::mutex> lock(mutex_);
    peak_ = held_;
  }

 private:
  // cudaMalloc, retried once after returning every cached block to the driver (cudaFree waits
  // for queued kernels, so blocks they still use are freed safely). Called with mutex_ held.
  void* driver_malloc(size_t size) {
    void* block = nullptr;
    if (cudaMalloc(&block, size) == cudaSuccess) return block;
    cudaGetLastError();  // clear the error so that the next launch check does not report it
    empty_cache();
    if (cudaMalloc(&block, size) == cudaSuccess) return block;
    cudaError_t status = cudaGetLastError();
    throw std::runtime_error("cuda: out of device memory: cudaMalloc of " + mib(size) +
                             " failed with " + mib(held_) + " in use (" +
                             cudaGetErrorString(status) + ")");
  }

  void empty_cache() {
    for (auto& [size, blocks] : free_) {
      for (void* block : blocks) check(cudaFree(block), "cudaFree");
      held_ -= size * blocks.size();
      blocks.clear();
    }
  }

  std::mutex mutex_;
  std::unordered_map<size_t, std::vector<void*>> free_;  // block size -> cached blocks
  size_t held_ = 0;  // bytes obtained from cudaMalloc: handed out plus cached
  size_t peak_ = 0;
};

// Never destroyed: at exit the driver may already be shutting down, and the process's memory
// goes back with it anyway.
CachingAllocator& allocator() {
  static CachingAllocator* instance = new CachingAllocator();
  return *instance;
}

cudaMemcpyKind copy_kind(bool dst_on_device, bool src_on_device) {
  if (dst_on_device) return src_on_device ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice;
  return src_on_device ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost;
}

}  // namespace

void* device_alloc(size_t bytes) { return allocator().allocate(bytes); }

void device_free(void* ptr, size_t bytes) { allocator().release(ptr, bytes); }

// cudaMemcpy returns before a device-to-device copy is done, so the stream is synchronised too;
// that also surfaces the errors of kernels queued before the copy here.
void copy_bytes(void* dst, bool dst_on_device, const void* src, bool src_on_device, size_t bytes) {
  if (bytes == 0) return;
  check(cudaMemcpy(dst, src, bytes, copy_kind(dst_on_device, src_on_device)), "cudaMemcpy");
  check(cudaStreamSynchronize(nullptr), "cudaStreamSynchronize");
}

int device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return count;
}

std::string device_description() {
  int device = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  cudaDeviceProp properties;
  check(cudaGetDeviceProperties(&properties, device), "cudaGetDeviceProperties");
  char text[320];
  std::snprintf(text, sizeof text, "cuda:%d %s, %.1f GiB", device, properties.name,
                static_cast<double>(properties.totalGlobalMem) / (kMiB * 1024));
  return text;
}

size_t peak_bytes() { return allocator().peak(); }

void reset_peak_bytes() { allocator().reset_peak(); }

size_t free_bytes() {
  size_t free = 0, total = 0;
  check(cudaMemGetInfo(&free, &total), "cudaMemGetInfo");
  return free;
}

}  // namespace engine::cuda
