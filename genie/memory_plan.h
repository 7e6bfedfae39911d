// GENIE-M's memory, worked out before any work starts: a quantization that cannot fit should
// say so in its first second, not after hours, and say what to change.
//
// For N calibration images, unit u with per-image input size in_u and output size out_u (in
// floats) holds, while it is learned: X and X_q (2 N in_u), Y (N out_u), and, while the next
// unit's X_q is built, its chunks and their concatenation (2 N out_u). Beside the caches live
// the calibration images (N in_0), the model with its quantizers (about 4 floats per weight:
// W, V, the soft weights and V's gradient) and one step's activations and gradients, estimated
// as 16 (in_u + out_u) per image of the mini-batch.
#pragma once

#include <string>

#include "engine/device.h"
#include "models/resnet.h"

namespace genie {

struct MemoryPlan {
  std::string largest_unit;  // the unit whose caches are largest
  double cache_mb = 0;       // its caches
  double peak_mb = 0;        // everything above at that unit
};

MemoryPlan plan_quantization(models::ResNet& model, int images, int batch);
std::string describe(const MemoryPlan& plan);
// Throws std::runtime_error with the numbers and what to reduce when the peak exceeds the
// memory `device` has available.
void require_memory(const MemoryPlan& plan, engine::Device device);

}  // namespace genie
