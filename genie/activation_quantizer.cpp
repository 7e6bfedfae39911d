// The activation quantizer; see activation_quantizer.h.
#include "genie/activation_quantizer.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "engine/ops.h"
#include "genie/clip_search.h"

namespace genie {

ActivationQuantizer::ActivationQuantizer(int bits) : bits_(bits) {
  if (bits < 2 || bits > 8) throw std::invalid_argument("activation bits must be 2..8");
}

ActivationQuantizer::ActivationQuantizer(int bits, bool is_signed, float s)
    : ActivationQuantizer(bits) {
  signed_ = is_signed;
  step = Tensor({1}, std::vector<float>{s});
  step.requires_grad_();
}

// A search, run once on a host copy of the batch; the step is then made on x's device.
void ActivationQuantizer::initialize(const Tensor& x) {
  const std::vector<float> v = x.values();
  signed_ = std::any_of(v.begin(), v.end(), [](float a) { return a < 0.0f; });
  float max_abs = 0.0f;
  for (float a : v) max_abs = std::max(max_abs, std::fabs(a));
  ClipResult r = search_clip(v.data(), x.numel(), signed_ ? -max_abs : 0.0f, max_abs, bits_);
  step = Tensor({1}, std::vector<float>{r.step}, x.device());
  step.requires_grad_();
}

float ActivationQuantizer::qn() const {
  return signed_ ? -static_cast<float>(1 << (bits_ - 1)) : 0.0f;
}

float ActivationQuantizer::qp() const {
  return signed_ ? static_cast<float>((1 << (bits_ - 1)) - 1)
                 : static_cast<float>((1 << bits_) - 1);
}

void ActivationQuantizer::require_initialized() const {
  if (!initialized())
    throw std::logic_error("an activation quantizer was used before initialize()");
}

Tensor ActivationQuantizer::forward(const Tensor& x) const {
  require_initialized();
  return engine::fake_quantize(x, step, qn(), qp());
}

Tensor ActivationQuantizer::forward(const Tensor& x, float p_quantized, engine::Rng& rng) const {
  if (p_quantized <= 0.0f) return x;
  if (p_quantized >= 1.0f) return forward(x);
  require_initialized();
  return engine::fake_quantize(x, step, qn(), qp(), p_quantized, rng);
}

}  // namespace genie
