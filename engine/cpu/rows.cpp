// CPU kernels of the row ops: gathering rows of a (N, ...) tensor and scattering their
// gradients back. Rows are copied whole; a scatter adds in the order of `rows`, so repeated
// rows accumulate deterministically.
#include <algorithm>

#include "engine/kernels.h"
#include "engine/threads.h"

namespace engine::cpu {

void gather_rows(float* out, const float* x, const int32_t* rows, int count, int64_t per) {
#pragma omp parallel for schedule(static) if (worth_threads(count * per))
  for (int i = 0; i < count; ++i) std::copy_n(x + rows[i] * per, per, out + i * per);
}

void scatter_add_rows(float* dx, const float* dout, const int32_t* rows, int count, int64_t per) {
  for (int i = 0; i < count; ++i) {
    float* to = dx + rows[i] * per;
    const float* from = dout + i * per;
    for (int64_t k = 0; k < per; ++k) to[k] += from[k];
  }
}

}  // namespace engine::cpu
