// Buffers on the host or a CUDA device; see storage.h.
#include "engine/storage.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "engine/kernels.h"
#if GENIE_CUDA
#include "engine/cuda/runtime.h"
#endif

namespace engine {

namespace {

// 64-byte alignment: a cache line, and an AVX-512 vector.
void* host_alloc(size_t bytes) {
  size_t rounded = (std::max<size_t>(bytes, 1) + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, rounded);
  if (!p) throw std::bad_alloc();
  return p;
}

}  // namespace

Storage::Storage(Device device, size_t bytes) : device_(device), bytes_(bytes), ptr_(nullptr) {
  require_device(device);
#if GENIE_CUDA
  if (device == Device::CUDA) {
    ptr_ = cuda::device_alloc(bytes);
    return;
  }
#endif
  ptr_ = host_alloc(bytes);
}

Storage::~Storage() {
#if GENIE_CUDA
  if (device_ == Device::CUDA) {
    cuda::device_free(ptr_, bytes_);
    return;
  }
#endif
  std::free(ptr_);
}

std::shared_ptr<Storage> float_storage(Device device, int64_t n, float fill) {
  auto s = std::make_shared<Storage>(device, static_cast<size_t>(n) * sizeof(float));
  GENIE_KERNEL(device, fill)(s->as<float>(), n, fill);
  return s;
}

void copy_between(Storage& dst, const Storage& src, size_t bytes) {
#if GENIE_CUDA
  if (dst.device() == Device::CUDA || src.device() == Device::CUDA) {
    cuda::copy_bytes(dst.as<void>(), dst.device() == Device::CUDA, src.as<void>(),
                     src.device() == Device::CUDA, bytes);
    return;
  }
#endif
  if (bytes) std::memcpy(dst.as<void>(), src.as<void>(), bytes);
}

void copy_between(Storage& dst, const void* host_src, size_t bytes) {
#if GENIE_CUDA
  if (dst.device() == Device::CUDA) {
    cuda::copy_bytes(dst.as<void>(), true, host_src, false, bytes);
    return;
  }
#endif
  if (bytes) std::memcpy(dst.as<void>(), host_src, bytes);
}

void copy_between(void* host_dst, const Storage& src, size_t bytes) {
#if GENIE_CUDA
  if (src.device() == Device::CUDA) {
    cuda::copy_bytes(host_dst, false, src.as<void>(), true, bytes);
    return;
  }
#endif
  if (bytes) std::memcpy(host_dst, src.as<void>(), bytes);
}

}  // namespace engine
