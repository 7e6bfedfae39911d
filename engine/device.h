// Where a tensor's values live, and which devices this build and machine offer.
//
// The CPU is always there. CUDA is there when the binary was built with `make CUDA=1` and the
// machine has an NVIDIA GPU; cuda_unavailable_reason() says which of the two is missing.
#pragma once

// 1 in a `make CUDA=1` build (the Makefile defines it), else 0.
#ifndef GENIE_CUDA
#define GENIE_CUDA 0
#endif

#include <string>

namespace engine {

enum class Device { CPU, CUDA };

const char* device_name(Device device);  // "cpu" or "cuda"
// "cpu" or "cuda"; anything else throws std::invalid_argument naming the accepted values.
Device parse_device(const std::string& name);

bool built_with_cuda();
bool cuda_available();
// Empty when CUDA is available, else one line saying why not.
std::string cuda_unavailable_reason();
// CUDA when available, else the CPU: the default of --device.
Device default_device();
// Throws std::runtime_error with cuda_unavailable_reason() when `device` cannot be used.
void require_device(Device device);
// One line per device this process can use, for `genie info`.
std::string describe_devices();
// The most GPU memory the CUDA backend has held so far, in MB (0 without CUDA).
double peak_device_mb();
// Memory a new allocation on `device` can still take, in MB: MemAvailable from /proc/meminfo
// for the CPU (0 where that is unreadable), the GPU's free memory for CUDA.
double available_memory_mb(Device device);

}  // namespace engine
