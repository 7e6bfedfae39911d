// GENIE-M's memory plan; see memory_plan.h.
#include "genie/memory_plan.h"

#include <cstdio>
#include <stdexcept>

#include "engine/autograd.h"
#include "engine/ops.h"

namespace genie {

using engine::Tensor;

namespace {

constexpr double kMB = 1e6 / sizeof(float);  // floats per MB
constexpr double kStepFloatsPerActivation = 16;
constexpr double kFloatsPerWeight = 4;

std::string mb_text(double mb) {
  char s[32];
  std::snprintf(s, sizeof s, "%.1f MB", mb);
  return s;
}

}  // namespace

MemoryPlan plan_quantization(models::ResNet& model, int images, int batch) {
  engine::NoGrad no_grad;
  const models::ModelConfig& mc = model.config();
  // One image through the float model gives every unit's per-image sizes.
  Tensor x({1, mc.in_channels, mc.input_size, mc.input_size}, 0.0f, model.device());
  const double n = images, first_input = static_cast<double>(x.numel());
  double weights = 0;
  for (auto& [name, t] : model.named_tensors()) weights += static_cast<double>(t->numel());
  MemoryPlan plan;
  for (int u = 0; u < model.num_units(); ++u) {
    Tensor y = model.forward_unit(u, x);
    const double in = static_cast<double>(x.numel()), out = static_cast<double>(y.numel());
    double caches = n * (2 * in + 3 * out) / kMB;
    double step = kStepFloatsPerActivation * batch * (in + out) / kMB;
    double peak = caches + n * first_input / kMB + kFloatsPerWeight * weights / kMB + step;
    if (caches > plan.cache_mb) plan = {model.unit_name(u), caches, peak};
    x = y;
  }
  return plan;
}

std::string describe(const MemoryPlan& p) {
  return "memory plan: the largest unit, " + p.largest_unit + ", caches " + mb_text(p.cache_mb) +
         "; expected peak of GENIE-M's data " + mb_text(p.peak_mb);
}

void require_memory(const MemoryPlan& p, engine::Device device) {
  double available = engine::available_memory_mb(device);
  if (available <= 0 || p.peak_mb <= available) return;
  throw std::runtime_error(describe(p) + ", but only " + mb_text(available) + " is available on " +
                           engine::device_name(device) +
                           ": use fewer calibration images (--num, or a smaller distilled "
                           "file) or a smaller --batch");
}

}  // namespace genie
