// Temporary device arrays for kernels that need working space (private to engine/cuda/).
//
// They come from the caching allocator, so the same buffers are reused call after call. Freeing
// one while kernels that use it are still queued is safe: its next user runs on the same
// default stream, after them.
#pragma once

#include <cstdint>

#include "engine/cuda/runtime.h"

namespace engine::cuda {

template <class T>
class DeviceArray {
 public:
  explicit DeviceArray(int64_t n)
      : bytes_(static_cast<size_t>(n) * sizeof(T)), data_(static_cast<T*>(device_alloc(bytes_))) {}
  ~DeviceArray() { device_free(data_, bytes_); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;

  T* get() const { return data_; }

 private:
  size_t bytes_;
  T* data_;
};

}  // namespace engine::cuda
