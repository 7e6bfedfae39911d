// CPU kernels of the activation fake quantizer (elementwise.h's FakeQuantizer).
//
// The step's gradient is one sum over every element of its two terms. It is made in fixed
// blocks of kBlock elements, each summed in kLanes interleaved float lanes (element i in lane
// i % kLanes, so that the lanes vectorise) that are then added in lane order; the blocks' sums
// are added in block order, in double. The order depends on n alone, never on the thread count,
// so a run's bits do not either. x's gradient, one term per element, is split across threads.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "engine/kernels.h"

namespace engine::cpu {

namespace {

constexpr int64_t kBlock = 4096;
constexpr int kLanes = 16;

bool worth_threads(int64_t n) { return n > 65536; }

float step_term(const FakeQuantizer& q, float dout, float x) {
  return q.step_term_product(dout, x) + q.step_term_quotient(dout, x);
}

float block_sum(const FakeQuantizer& q, const float* dout, const float* x, int64_t n) {
  float lane[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) lane[l] += step_term(q, dout[i + l], x[i + l]);
  for (int l = 0; i < n; ++i, ++l) lane[l] += step_term(q, dout[i], x[i]);
  float sum = 0.0f;
  for (float s : lane) sum += s;
  return sum;
}

double step_gradient(const FakeQuantizer& q, const float* dout, const float* x, int64_t n) {
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  std::vector<float> sums(blocks);
#pragma omp parallel for schedule(static) if (worth_threads(n))
  for (int64_t b = 0; b < blocks; ++b)
    sums[b] = block_sum(q, dout + b * kBlock, x + b * kBlock, std::min(kBlock, n - b * kBlock));
  double total = 0.0;
  for (float s : sums) total += s;
  return total;
}

}  // namespace

void fake_quantize_forward(float* out, const float* x, const float* step, float qn, float qp,
                           int64_t n) {
  const FakeQuantizer q{step[0], qn, qp};
#pragma omp parallel for schedule(static) if (worth_threads(n))
  for (int64_t i = 0; i < n; ++i) out[i] = q.value(x[i]);
}

void fake_quantize_backward(float* dx, float* dstep, const float* dout, const float* x,
                            const float* step, float qn, float qp, int64_t n) {
  const FakeQuantizer q{step[0], qn, qp};
  if (dstep) dstep[0] += static_cast<float>(step_gradient(q, dout, x, n));
  if (!dx) return;
#pragma omp parallel for schedule(static) if (worth_threads(n))
  for (int64_t i = 0; i < n; ++i) dx[i] += q.x_term(dout[i], x[i]);
}

}  // namespace engine::cpu
