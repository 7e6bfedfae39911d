// The clip-ratio search; see clip_search.h.
#include "genie/clip_search.h"

#include <cmath>
#include <cstdint>

namespace genie {

float quantize_to_nearest(float x, float step, float zero_point, int bits) {
  float levels = static_cast<float>((1 << bits) - 1);
  float q = std::fmin(std::fmax(std::nearbyint(x / step) + zero_point, 0.0f), levels);
  return (q - zero_point) * step;
}

namespace {

// mean |x - Q(x)|^2.4 over the values. Summed in 64 fixed slices, in parallel, and the slices
// in order: the result does not depend on the thread count.
double clip_error(const float* values, int64_t count, float step, float zero_point, int bits) {
  constexpr int kSlices = 64;
  double slice[kSlices] = {};
#pragma omp parallel for schedule(static) if (count > 16384)
  for (int k = 0; k < kSlices; ++k) {
    double sum = 0.0;
    for (int64_t i = count * k / kSlices; i < count * (k + 1) / kSlices; ++i)
      sum += std::pow(std::fabs(values[i] - quantize_to_nearest(values[i], step, zero_point, bits)),
                      2.4);
    slice[k] = sum;
  }
  double total = 0.0;
  for (double s : slice) total += s;
  return total / static_cast<double>(count);
}

}  // namespace

ClipResult search_clip(const float* values, int64_t count, float lo, float hi, int bits) {
  ClipResult best{0.0f, 0.0f};
  double best_score = 1e10;  // the reference starts from 1e10 too
  for (int percent = 100; percent >= 1; --percent) {
    float r = static_cast<float>(percent) / 100.0f;
    // An empty range (a constant channel) would divide by zero; any tiny step is exact there.
    float step = std::fmax((hi * r - lo * r) / static_cast<float>((1 << bits) - 1), 1e-8f);
    // A symmetric range puts -r lo / s exactly on the tie (2^b - 1) / 2, which float division
    // can miss by an ulp either way, shifting the grid a code off the one activations use.
    float zero_point =
        std::nearbyint(lo < 0.0f && lo == -hi ? 0.5f * ((1 << bits) - 1) : -(lo * r) / step);
    double score = clip_error(values, count, step, zero_point, bits);
    if (score < best_score) {
      best_score = score;
      best = {step, zero_point};
    }
  }
  return best;
}

}  // namespace genie
