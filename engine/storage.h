// Storage: one contiguous buffer on one device, the memory behind a tensor's values or its
// gradient. Host buffers are plain heap memory; device buffers come from the CUDA backend's
// caching allocator (engine/cuda/memory.cu), so a training loop does not call cudaMalloc per
// step. A Storage never changes device: moving data means a new Storage (copy_between).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "engine/device.h"

namespace engine {

class Storage {
 public:
  // `bytes` of uninitialised memory on `device`.
  Storage(Device device, size_t bytes);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  Device device() const { return device_; }
  size_t bytes() const { return bytes_; }
  // The buffer as an array of T, on the storage's device (a device pointer for CUDA).
  template <class T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }

 private:
  Device device_;
  size_t bytes_;
  void* ptr_;
};

// A buffer of n floats on `device`, every one set to `fill`.
std::shared_ptr<Storage> float_storage(Device device, int64_t n, float fill);
// Copies `bytes` from src to dst, either of which may be on either device.
void copy_between(Storage& dst, const Storage& src, size_t bytes);
void copy_between(Storage& dst, const void* host_src, size_t bytes);  // host -> dst
void copy_between(void* host_dst, const Storage& src, size_t bytes);  // src -> host

}  // namespace engine
