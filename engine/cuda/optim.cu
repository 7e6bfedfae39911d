// Optimizer updates (engine/optim.cpp): Adam and SGD with and without momentum, one thread per
// parameter element, in PyTorch 1.13's order of float operations (adam_element and
// decayed_grad from engine/elementwise.h).
#include "engine/cuda/launch.cuh"
#include "engine/kernels.h"

namespace engine::cuda {

namespace {

struct AdamUpdate {
  float *param, *m, *v;
  const float* grad;
  AdamStepScalars s;
  __device__ void operator()(int64_t i) const { adam_element(param[i], m[i], v[i], grad[i], s); }
};

struct SgdUpdate {
  float* param;
  const float* grad;
  float lr, weight_decay;
  __device__ void operator()(int64_t i) const {
    param[i] = param[i] + -lr * decayed_grad(grad[i], param[i], weight_decay);
  }
};

// First step: PyTorch's buffer starts as a copy of the (decayed) gradient.
struct SgdFirstMomentumUpdate {
  float *param, *buf;
  const float* grad;
  float lr, weight_decay;
  __device__ void operator()(int64_t i) const {
    buf[i] = decayed_grad(grad[i], param[i], weight_decay);
    param[i] = param[i] + -lr * buf[i];
  }
};

struct SgdMomentumUpdate {
  float *param, *buf;
  const float* grad;
  float lr, momentum, weight_decay;
  __device__ void operator()(int64_t i) const {
    buf[i] = buf[i] * momentum + decayed_grad(grad[i], param[i], weight_decay);
    param[i] = param[i] + -lr * buf[i];
  }
};

}  // namespace

void adam_update(float* param, float* m, float* v, const float* grad, int64_t n,
                 const AdamStepScalars& s) {
  for_each_index("adam_update", n, AdamUpdate{param, m, v, grad, s});
}

void sgd_update(float* param, const float* grad, int64_t n, float lr, float weight_decay) {
  for_each_index("sgd_update", n, SgdUpdate{param, grad, lr, weight_decay});
}

void sgd_first_momentum_update(float* param, float* buf, const float* grad, int64_t n, float lr,
                               float weight_decay) {
  for_each_index("sgd_first_momentum_update", n,
                 SgdFirstMomentumUpdate{param, buf, grad, lr, weight_decay});
}

void sgd_momentum_update(float* param, float* buf, const float* grad, int64_t n, float lr,
                         float momentum, float weight_decay) {
  for_each_index("sgd_momentum_update", n,
                 SgdMomentumUpdate{param, buf, grad, lr, momentum, weight_decay});
}

}  // namespace engine::cuda
