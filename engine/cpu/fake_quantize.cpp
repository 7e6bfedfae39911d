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
#include "engine/threads.h"

namespace engine::cpu {

namespace {

constexpr int64_t kBlock = 4096;
constexpr int kLanes = 16;

// The gradient that reaches the quantized value: all of dout, or QDrop's quantized share. The
// loops below are instantiated with and without QDrop, so that each vectorises.
template <bool kQdrop>
float quantized_grad(const float* dout, const uint8_t* keep_float, int64_t i) {
  if constexpr (kQdrop) return qdrop_quantized_share(dout[i], keep_float[i]);
  return dout[i];
}

template <bool kQdrop>
float step_term(const FakeQuantizer& q, const float* dout, const float* x,
                const uint8_t* keep_float, int64_t i) {
  const float d = quantized_grad<kQdrop>(dout, keep_float, i);
  return q.step_term_product(d, x[i]) + q.step_term_quotient(d, x[i]);
}

template <bool kQdrop>
float block_sum(const FakeQuantizer& q, const float* dout, const float* x,
                const uint8_t* keep_float, int64_t begin, int64_t end) {
  float lane[kLanes] = {};
  int64_t i = begin;
  for (; i + kLanes <= end; i += kLanes)
    for (int l = 0; l < kLanes; ++l) lane[l] += step_term<kQdrop>(q, dout, x, keep_float, i + l);
  for (int l = 0; i < end; ++i, ++l) lane[l] += step_term<kQdrop>(q, dout, x, keep_float, i);
  float sum = 0.0f;
  for (float s : lane) sum += s;
  return sum;
}

template <bool kQdrop>
double step_gradient(const FakeQuantizer& q, const float* dout, const float* x,
                     const uint8_t* keep_float, int64_t n) {
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  std::vector<float> sums(blocks);
#pragma omp parallel for schedule(static) if (worth_threads(n))
  for (int64_t b = 0; b < blocks; ++b)
    sums[b] = block_sum<kQdrop>(q, dout, x, keep_float, b * kBlock, std::min(n, (b + 1) * kBlock));
  double total = 0.0;
  for (float s : sums) total += s;
  return total;
}

// With QDrop, x's gradient gets where's share first and then the quantizer's, as the ops did.
template <bool kQdrop>
void backward(const FakeQuantizer& q, float* dx, float* dstep, const float* dout, const float* x,
              const uint8_t* keep_float, int64_t n) {
  if (dstep) dstep[0] += static_cast<float>(step_gradient<kQdrop>(q, dout, x, keep_float, n));
  if (!dx) return;
#pragma omp parallel for schedule(static) if (worth_threads(n))
  for (int64_t i = 0; i < n; ++i) {
    if constexpr (kQdrop) dx[i] += qdrop_float_share(dout[i], keep_float[i]);
    dx[i] += q.x_term(quantized_grad<kQdrop>(dout, keep_float, i), x[i]);
  }
}

}  // namespace

void fake_quantize_forward(float* out, const float* x, const uint8_t* keep_float, const float* step,
                           float qn, float qp, int64_t n) {
  const FakeQuantizer q{step[0], qn, qp};
#pragma omp parallel for schedule(static) if (worth_threads(n))
  for (int64_t i = 0; i < n; ++i)
    out[i] = keep_float ? qdrop_value(keep_float[i], x[i], q) : q.value(x[i]);
}

void fake_quantize_backward(float* dx, float* dstep, const float* dout, const float* x,
                            const uint8_t* keep_float, const float* step, float qn, float qp,
                            int64_t n) {
  const FakeQuantizer q{step[0], qn, qp};
  if (keep_float)
    backward<true>(q, dx, dstep, dout, x, keep_float, n);
  else
    backward<false>(q, dx, dstep, dout, x, keep_float, n);
}

}  // namespace engine::cpu
