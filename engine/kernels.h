// The kernels: every backend implements the same list (engine/kernel_list.inc), declared once
// and included here into one namespace per backend. engine/cpu/ defines engine::cpu, the
// readable reference; engine/cuda/ defines engine::cuda in a `make CUDA=1` build.
//
// An op (engine/ops/) checks shapes, allocates its output on its inputs' device, and calls a
// kernel through GENIE_KERNEL(device, name)(arguments...), which picks the backend of that
// device. Kernels take raw arrays on that device, outputs first, llm.c style; a backward kernel
// *adds* into the gradients it is given (a null one is skipped).
#pragma once

#include <cstdint>

#include "engine/device.h"
#include "engine/elementwise.h"
#include "engine/kernel_types.h"
#include "engine/ops/broadcast.h"

namespace engine {
namespace cpu {
#include "engine/kernel_list.inc"
}  // namespace cpu
#if GENIE_CUDA
namespace cuda {
#include "engine/kernel_list.inc"
}  // namespace cuda
#endif
}  // namespace engine

// The kernel `name` of the backend that runs `device`. Without the CUDA backend no tensor can
// be on a CUDA device (Storage refuses), so the CPU kernel is the only choice.
#if GENIE_CUDA
#define GENIE_KERNEL(device, name) \
  ((device) == ::engine::Device::CUDA ? ::engine::cuda::name : ::engine::cpu::name)
#else
#define GENIE_KERNEL(device, name) (::engine::cpu::name)
#endif
