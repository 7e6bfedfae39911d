// CUDA kernels of the activation fake quantizer (elementwise.h's FakeQuantizer): one thread per
// element, and the step's gradient as one deterministic sum (reduce.cuh) of both of its terms.
#include "engine/cuda/launch.cuh"
#include "engine/cuda/reduce.cuh"
#include "engine/kernels.h"

namespace engine::cuda {

namespace {

struct FakeQuantizeForward {
  float* out;
  const float *x, *step;
  float qn, qp;
  __device__ void operator()(int64_t i) const {
    out[i] = FakeQuantizer{step[0], qn, qp}.value(x[i]);
  }
};

struct FakeQuantizeInputGrad {
  float* dx;
  const float *dout, *x, *step;
  float qn, qp;
  __device__ void operator()(int64_t i) const {
    dx[i] += FakeQuantizer{step[0], qn, qp}.x_term(dout[i], x[i]);
  }
};

struct FakeQuantizeStepTerms {
  const float *dout, *x, *step;
  float qn, qp;
  __device__ double operator()(int64_t, int64_t i) const {
    const FakeQuantizer q{step[0], qn, qp};
    return static_cast<double>(q.step_term_product(dout[i], x[i])) +
           static_cast<double>(q.step_term_quotient(dout[i], x[i]));
  }
};

struct AddToStepGrad {
  float* dstep;
  __device__ void operator()(int64_t, double total) const { dstep[0] += static_cast<float>(total); }
};

}  // namespace

void fake_quantize_forward(float* out, const float* x, const float* step, float qn, float qp,
                           int64_t n) {
  for_each_index("fake_quantize_forward", n, FakeQuantizeForward{out, x, step, qn, qp});
}

void fake_quantize_backward(float* dx, float* dstep, const float* dout, const float* x,
                            const float* step, float qn, float qp, int64_t n) {
  if (dstep)
    reduce_each("fake_quantize_backward", 1, n, FakeQuantizeStepTerms{dout, x, step, qn, qp},
                AddToStepGrad{dstep});
  if (dx)
    for_each_index("fake_quantize_backward", n, FakeQuantizeInputGrad{dx, dout, x, step, qn, qp});
}

}  // namespace engine::cuda
