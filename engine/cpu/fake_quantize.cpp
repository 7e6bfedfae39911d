// CPU kernels of the activation fake quantizer (elementwise.h's FakeQuantizer).
//
// The step's gradient is one sum over every element, made in the order the composition's
// backward made it (mul's terms, then div's, each in element order, each product rounded before
// it is added), so the fused op keeps the composition's bits. That sum is serial; x's gradient,
// one term per element, is split across the threads.
#include <cstdint>

#include "engine/kernels.h"

namespace engine::cpu {

namespace {

bool worth_threads(int64_t n) { return n > 65536; }

__attribute__((optimize("fp-contract=off"))) float step_gradient(float sum, const FakeQuantizer& q,
                                                                 const float* dout, const float* x,
                                                                 int64_t n) {
  for (int64_t i = 0; i < n; ++i) sum += q.step_term_product(dout[i], x[i]);
  for (int64_t i = 0; i < n; ++i) sum += q.step_term_quotient(dout[i], x[i]);
  return sum;
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
  if (dstep) dstep[0] = step_gradient(dstep[0], q, dout, x, n);
  if (!dx) return;
#pragma omp parallel for schedule(static) if (worth_threads(n))
  for (int64_t i = 0; i < n; ++i) dx[i] += q.x_term(dout[i], x[i]);
}

}  // namespace engine::cpu
