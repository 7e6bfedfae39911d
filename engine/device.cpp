// Devices this build and machine offer; see device.h.
#include "engine/device.h"

#include <fstream>
#include <stdexcept>
#include <string>

#if GENIE_CUDA
#include "engine/cuda/runtime.h"
#endif

namespace engine {

const char* device_name(Device device) { return device == Device::CUDA ? "cuda" : "cpu"; }

Device parse_device(const std::string& name) {
  if (name == "cpu") return Device::CPU;
  if (name == "cuda") return Device::CUDA;
  throw std::invalid_argument("--device must be cpu or cuda, got '" + name + "'");
}

bool built_with_cuda() { return GENIE_CUDA != 0; }

std::string cuda_unavailable_reason() {
#if GENIE_CUDA
  static const bool has_gpu = cuda::device_count() > 0;  // asked once: the driver is slow
  return has_gpu ? "" : "no CUDA GPU is visible on this machine";
#else
  return "this genie was built without the CUDA backend (build it with make CUDA=1)";
#endif
}

bool cuda_available() { return cuda_unavailable_reason().empty(); }

Device default_device() { return cuda_available() ? Device::CUDA : Device::CPU; }

void require_device(Device device) {
  if (device == Device::CUDA && !cuda_available())
    throw std::runtime_error("--device cuda: " + cuda_unavailable_reason());
}

std::string describe_devices() {
  std::string lines = "device=cpu\n";
#if GENIE_CUDA
  if (cuda_available()) return lines + "device=" + cuda::device_description() + "\n";
#endif
  return lines + "device=cuda unavailable: " + cuda_unavailable_reason() + "\n";
}

double peak_device_mb() {
#if GENIE_CUDA
  if (cuda_available()) return static_cast<double>(cuda::peak_bytes()) / 1e6;
#endif
  return 0.0;
}

double available_memory_mb(Device device) {
#if GENIE_CUDA
  if (device == Device::CUDA && cuda_available())
    return static_cast<double>(cuda::free_bytes()) / 1e6;
#endif
  (void)device;
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  double kb = 0;
  while (meminfo >> key >> kb) {
    if (key == "MemAvailable:") return kb * 1024 / 1e6;
    meminfo.ignore(64, '\n');
  }
  return 0.0;
}

}  // namespace engine
