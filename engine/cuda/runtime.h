// The CUDA backend's runtime services, callable from host C++ (compiled only with CUDA=1):
// device memory from a caching allocator, copies, and what the machine has.
//
// The caching allocator keeps freed blocks in per-size free lists (sizes rounded up to 512 bytes
// below 1 MiB, to 2 MiB above) and hands them out again: after the first iteration of a training
// loop, every buffer it needs is already cached and cudaMalloc is not called again.
#pragma once

#include <cstddef>
#include <string>

namespace engine::cuda {

void* device_alloc(size_t bytes);
void device_free(void* ptr, size_t bytes);
// Copies bytes between host and device memory in any direction; blocks until done.
void copy_bytes(void* dst, bool dst_on_device, const void* src, bool src_on_device, size_t bytes);
// How many GPUs the driver reports (0 when there is no driver or no GPU).
int device_count();
// "cuda:0 NVIDIA H200, 139.8 GiB" for the current device.
std::string device_description();
// Peak and current device memory held by the allocator, in bytes.
size_t peak_bytes();
// Device memory free right now, plus what the caching allocator holds unused.
size_t free_bytes();
void reset_peak_bytes();

}  // namespace engine::cuda
