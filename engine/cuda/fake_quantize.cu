// CUDA kernels of the activation fake quantizer (elementwise.h's FakeQuantizer): one thread per
// element, and the step's gradient as one deterministic sum (reduce.cuh) of both of its terms.
#include "engine/cuda/launch.cuh"
#include "engine/cuda/reduce.cuh"
#include "engine/kernels.h"

namespace engine::cuda {

namespace {

// The gradient that reaches the quantized value: all of dout, or QDrop's quantized share.
__device__ float quantized_grad(const float* dout, const uint8_t* keep_float, int64_t i) {
  return keep_float ? qdrop_quantized_share(dout[i], keep_float[i]) : dout[i];
}

struct FakeQuantizeForward {
  float* out;
  const float* x;
  const uint8_t* keep_float;
  const float* step;
  float qn, qp;
  __device__ void operator()(int64_t i) const {
    const FakeQuantizer q{step[0], qn, qp};
    out[i] = keep_float ? qdrop_value(keep_float[i], x[i], q) : q.value(x[i]);
  }
};

struct FakeQuantizeInputGrad {
  float* dx;
  const float *dout, *x;
  const uint8_t* keep_float;
  const float* step;
  float qn, qp;
  __device__ void operator()(int64_t i) const {
    if (keep_float) dx[i] += qdrop_float_share(dout[i], keep_float[i]);
    dx[i] += FakeQuantizer{step[0], qn, qp}.x_term(quantized_grad(dout, keep_float, i), x[i]);
  }
};

struct FakeQuantizeStepTerms {
  const float *dout, *x;
  const uint8_t* keep_float;
  const float* step;
  float qn, qp;
  __device__ double operator()(int64_t, int64_t i) const {
    const FakeQuantizer q{step[0], qn, qp};
    const float d = quantized_grad(dout, keep_float, i);
    return static_cast<double>(q.step_term_product(d, x[i])) +
           static_cast<double>(q.step_term_quotient(d, x[i]));
  }
};

struct AddToStepGrad {
  float* dstep;
  __device__ void operator()(int64_t, double total) const { dstep[0] += static_cast<float>(total); }
};

}  // namespace

void fake_quantize_forward(float* out, const float* x, const uint8_t* keep_float, const float* step,
                           float qn, float qp, int64_t n) {
  for_each_index("fake_quantize_forward", n, FakeQuantizeForward{out, x, keep_float, step, qn, qp});
}

void fake_quantize_backward(float* dx, float* dstep, const float* dout, const float* x,
                            const uint8_t* keep_float, const float* step, float qn, float qp,
                            int64_t n) {
  if (dstep)
    reduce_each("fake_quantize_backward", 1, n,
                FakeQuantizeStepTerms{dout, x, keep_float, step, qn, qp}, AddToStepGrad{dstep});
  if (dx)
    for_each_index("fake_quantize_backward", n,
                   FakeQuantizeInputGrad{dx, dout, x, keep_float, step, qn, qp});
}

}  // namespace engine::cuda
