// Batch normalization over the channel axis, as PyTorch's BatchNorm1d/2d.
//
// Shapes: x and out (N, C, H, W) or (N, C), taken as (N, C, S) with S = H * W (or 1);
// gamma, beta, mean, invstd, running statistics (C). M = N * S elements per channel.
// Training mode normalises with the batch mean and biased variance and blends the batch mean and
// *unbiased* variance into the running statistics; eval mode normalises with the running
// statistics. Both are out = (x - mean) * invstd * gamma + beta, so one forward and one backward
// kernel serve both; only training mode has the extra gradient through the batch statistics.
#include <stdexcept>
#include <string>

#include "engine/autograd.h"
#include "engine/kernels.h"
#include "engine/ops.h"

namespace engine {

namespace {

void check_channel_vector(const Tensor& t, const char* what, const Tensor& x, int C) {
  if (t.defined() && t.shape() != Shape{C})
    throw std::invalid_argument(std::string("batch_norm: ") + what + " of shape " +
                                shape_str(t.shape()) + " does not match the " + std::to_string(C) +
                                " channels of x " + shape_str(x.shape()));
}

void check_arguments(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                     const BatchNormState& state) {
  if (x.ndim() != 2 && x.ndim() != 4)
    throw std::invalid_argument("batch_norm needs x (N, C) or (N, C, H, W), got " +
                                shape_str(x.shape()));
  int C = x.size(1);
  if (!state.running_mean.defined() || !state.running_var.defined())
    throw std::invalid_argument("batch_norm needs running_mean and running_var of shape (" +
                                std::to_string(C) + ") for x " + shape_str(x.shape()));
  check_channel_vector(gamma, "gamma", x, C);
  check_channel_vector(beta, "beta", x, C);
  check_channel_vector(state.running_mean, "running_mean", x, C);
  check_channel_vector(state.running_var, "running_var", x, C);
}

// mean and invstd (C) from the batch, blending the batch mean and unbiased variance into the
// running statistics (in double, as PyTorch's CPU kernel does, rounding once).
void batch_statistics(Tensor& mean, Tensor& invstd, const Tensor& x, BatchNormState& state, int N,
                      int C, int S) {
  // PyTorch refuses too: the unbiased variance of one value divides by zero.
  if (int64_t{N} * S < 2)
    throw std::invalid_argument(
        "batch_norm in training mode needs more than one value per "
        "channel, got x " +
        shape_str(x.shape()));
  GENIE_KERNEL(x.device(), batch_norm_batch_statistics)
  (mean.data(), invstd.data(), state.running_mean.data(), state.running_var.data(), x.data(), N, C,
   S, state.momentum, state.eps);
}

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, BatchNormState& state,
                  bool training) {
  check_arguments(x, gamma, beta, state);
  int N = x.size(0), C = x.size(1), S = x.ndim() == 4 ? x.size(2) * x.size(3) : 1;
  Device device = same_device("batch_norm", {x, gamma, beta, state.running_mean});
  Tensor mean({C}, 0.0f, device), invstd({C}, 0.0f, device);
  if (training)
    batch_statistics(mean, invstd, x, state, N, C, S);
  else
    GENIE_KERNEL(device, batch_norm_running_statistics)
  (mean.data(), invstd.data(), state.running_mean.data(), state.running_var.data(), C, state.eps);
  Tensor out = Tensor::uninitialized(x.shape(), device);
  GENIE_KERNEL(device, batch_norm_forward)
  (out.data(), x.data(), mean.data(), invstd.data(), data_or_null(gamma), data_or_null(beta), N, C,
   S);
  record(out, {x, gamma, beta},
         [x, gamma, beta, o = out.node(), mean, invstd, training, N, C, S]() {
           GENIE_KERNEL(o->device(), batch_norm_backward)
           (grad_or_null(x), grad_or_null(gamma), grad_or_null(beta), o->gradient(), x.data(),
            mean.data(), invstd.data(), data_or_null(gamma), training, N, C, S);
         });
  return out;
}

}  // namespace engine
