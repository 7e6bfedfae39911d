// CPU kernels of the optimizers: float32 updates over plain arrays, in PyTorch 1.13's order of
// operations (_single_tensor_adam / _single_tensor_sgd). Every array has the parameter's n.
#include "engine/kernels.h"

namespace engine::cpu {

void adam_update(float* param, float* m, float* v, const float* grad, int64_t n,
                 const AdamStepScalars& s) {
  for (int64_t i = 0; i < n; ++i) adam_element(param[i], m[i], v[i], grad[i], s);
}

// First step: PyTorch's buffer starts as a copy of the (decayed) gradient.
void sgd_first_momentum_update(float* param, float* buf, const float* grad, int64_t n, float lr,
                               float weight_decay) {
  for (int64_t i = 0; i < n; ++i) {
    buf[i] = decayed_grad(grad[i], param[i], weight_decay);
    param[i] = param[i] + -lr * buf[i];
  }
}

void sgd_momentum_update(float* param, float* buf, const float* grad, int64_t n, float lr,
                         float momentum, float weight_decay) {
  for (int64_t i = 0; i < n; ++i) {
    buf[i] = buf[i] * momentum + decayed_grad(grad[i], param[i], weight_decay);
    param[i] = param[i] + -lr * buf[i];
  }
}

void sgd_update(float* param, const float* grad, int64_t n, float lr, float weight_decay) {
  for (int64_t i = 0; i < n; ++i)
    param[i] = param[i] + -lr * decayed_grad(grad[i], param[i], weight_decay);
}

}  // namespace engine::cpu
