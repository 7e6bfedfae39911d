// The initial step size of GENIE-M's quantizers (docs/METHOD.md, "Init search"): try the clip
// ratios r = 1.00, 0.99, ..., 0.01 of the value range, quantize to nearest with each, and keep
// the step whose error mean |x - Q(x)|^2.4 is smallest (the first one on ties).
//
//   range [lo, hi] scaled by r;  s = r (hi - lo) / (2^b - 1);  zp = round(-r lo / s)
//   Q(x) = s * (clamp(round(x / s) + zp, 0, 2^b - 1) - zp)
#pragma once

#include <cstdint>

namespace genie {

struct ClipResult {
  float step;
  float zero_point;
};

// The best step and zero point for `values` quantized into [lo, hi] at `bits`.
ClipResult search_clip(const float* values, int64_t count, float lo, float hi, int bits);

// Round-to-nearest fake quantization of one value (the Q above); round half to even.
float quantize_to_nearest(float x, float step, float zero_point, int bits);

}  // namespace genie
