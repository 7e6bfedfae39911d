// Batch normalization over the channel axis, as PyTorch's BatchNorm1d/2d.
//
// Shapes: x and out (N, C, H, W) or (N, C), taken as (N, C, S) with S = H * W (or 1);
// gamma, beta, mean, invstd, running statistics (C). M = N * S elements per channel.
// Training mode normalises with the batch mean and biased variance and blends the batch mean and
// *unbiased* variance into the running statistics; eval mode normalises with the running
// statistics. Both are out = (x - mean) * invstd * gamma + beta, so one forward and one backward
// kernel serve both; only training mode has the extra gradient through the batch statistics.
#include <cmath>
#include <stdexcept>
#include <string>

#include "engine/autograd.h"
#include "engine/ops.h"

namespace engine {

namespace {

// Per-channel mean and sum of squared deviations, two passes in double: M reaches 10^5 and more,
// and one-pass E[x^2] - E[x]^2 cancels catastrophically.
void batch_norm_statistics(double* mean, double* sum_sq_dev, const float* x, int N, int C, int S) {
  int64_t M = int64_t{N} * S;
#pragma omp parallel for schedule(static) if (M * C > 65536)
  for (int c = 0; c < C; ++c) {
    double sum = 0.0;
    for (int n = 0; n < N; ++n) {
      const float* xc = x + (int64_t{n} * C + c) * S;
      for (int s = 0; s < S; ++s) sum += xc[s];
    }
    double m = sum / static_cast<double>(M);
    double ss = 0.0;
    for (int n = 0; n < N; ++n) {
      const float* xc = x + (int64_t{n} * C + c) * S;
      for (int s = 0; s < S; ++s) ss += (xc[s] - m) * (xc[s] - m);
    }
    mean[c] = m;
    sum_sq_dev[c] = ss;
  }
}

// out = (x - mean) * invstd * gamma + beta; gamma or beta null means 1 or 0 (non-affine).
void batch_norm_forward(float* out, const float* x, const float* mean, const float* invstd,
                        const float* gamma, const float* beta, int N, int C, int S) {
#pragma omp parallel for schedule(static) if (int64_t{N} * C * S > 65536)
  for (int64_t plane = 0; plane < int64_t{N} * C; ++plane) {
    int c = static_cast<int>(plane % C);
    float scale = invstd[c] * (gamma ? gamma[c] : 1.0f);
    float shift = beta ? beta[c] : 0.0f;
    const float* xp = x + plane * S;
    float* op = out + plane * S;
    for (int s = 0; s < S; ++s) op[s] = (xp[s] - mean[c]) * scale + shift;
  }
}

// With xhat = (x - mean) * invstd and g = dout:
//   dbeta += sum g,  dgamma += sum g * xhat,
//   dx += gamma * invstd * (g - [batch_stats] (sum g + xhat * sum g * xhat) / M),
// where the bracketed term is the gradient through the batch mean and variance. Null outputs
// are skipped. Each channel is summed by one thread in a fixed order, so results are
// deterministic.
void batch_norm_backward(float* dx, float* dgamma, float* dbeta, const float* dout, const float* x,
                         const float* mean, const float* invstd, const float* gamma,
                         bool batch_stats, int N, int C, int S) {
  int64_t M = int64_t{N} * S;
#pragma omp parallel for schedule(static) if (M * C > 65536)
  for (int c = 0; c < C; ++c) {
    double sum_g = 0.0, sum_g_xhat = 0.0;
    for (int n = 0; n < N; ++n) {
      int64_t base = (int64_t{n} * C + c) * S;
      for (int s = 0; s < S; ++s) {
        sum_g += dout[base + s];
        sum_g_xhat += static_cast<double>(dout[base + s]) * (x[base + s] - mean[c]) * invstd[c];
      }
    }
    if (dgamma) dgamma[c] += static_cast<float>(sum_g_xhat);
    if (dbeta) dbeta[c] += static_cast<float>(sum_g);
    if (!dx) continue;
    float scale = invstd[c] * (gamma ? gamma[c] : 1.0f);
    float mean_g = batch_stats ? static_cast<float>(sum_g / M) : 0.0f;
    float mean_g_xhat = batch_stats ? static_cast<float>(sum_g_xhat / M) : 0.0f;
    for (int n = 0; n < N; ++n) {
      int64_t base = (int64_t{n} * C + c) * S;
      for (int s = 0; s < S; ++s) {
        float xhat = (x[base + s] - mean[c]) * invstd[c];
        dx[base + s] += scale * (dout[base + s] - mean_g - xhat * mean_g_xhat);
      }
    }
  }
}

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

// Fills mean and invstd from the batch and blends the batch statistics into the running ones,
// in double as PyTorch's CPU kernel does, rounding once.
void batch_statistics(std::vector<float>& mean, std::vector<float>& invstd, const Tensor& x,
                      BatchNormState& state, int N, int C, int S) {
  int64_t M = int64_t{N} * S;
  // PyTorch refuses too: the unbiased variance of one value divides by zero.
  if (M < 2)
    throw std::invalid_argument(
        "batch_norm in training mode needs more than one value per "
        "channel, got x " +
        shape_str(x.shape()));
  std::vector<double> batch_mean(C), sum_sq_dev(C);
  batch_norm_statistics(batch_mean.data(), sum_sq_dev.data(), x.data(), N, C, S);
  double m = state.momentum;
  float* running_mean = state.running_mean.data();
  float* running_var = state.running_var.data();
  for (int c = 0; c < C; ++c) {
    double biased_var = sum_sq_dev[c] / static_cast<double>(M);
    double unbiased_var = sum_sq_dev[c] / static_cast<double>(M - 1);
    mean[c] = static_cast<float>(batch_mean[c]);
    invstd[c] = static_cast<float>(1.0 / std::sqrt(biased_var + state.eps));
    running_mean[c] = static_cast<float>((1.0 - m) * running_mean[c] + m * batch_mean[c]);
    running_var[c] = static_cast<float>((1.0 - m) * running_var[c] + m * unbiased_var);
  }
}

void running_statistics(std::vector<float>& mean, std::vector<float>& invstd,
                        const BatchNormState& state, int C) {
  const float* running_mean = state.running_mean.data();
  const float* running_var = state.running_var.data();
  for (int c = 0; c < C; ++c) {
    mean[c] = running_mean[c];
    invstd[c] =
        static_cast<float>(1.0 / std::sqrt(static_cast<double>(running_var[c]) + state.eps));
  }
}

float* grad_or_null(const Tensor& t) {
  return t.defined() && t.requires_grad() ? t.grad() : nullptr;
}

const float* data_or_null(const Tensor& t) { return t.defined() ? t.data() : nullptr; }

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, BatchNormState& state,
                  bool training) {
  check_arguments(x, gamma, beta, state);
  int N = x.size(0), C = x.size(1), S = x.ndim() == 4 ? x.size(2) * x.size(3) : 1;
  std::vector<float> mean(C), invstd(C);
  if (training)
    batch_statistics(mean, invstd, x, state, N, C, S);
  else
    running_statistics(mean, invstd, state, C);
  Tensor out(x.shape());
  batch_norm_forward(out.data(), x.data(), mean.data(), invstd.data(), data_or_null(gamma),
                     data_or_null(beta), N, C, S);
  record(out, {x, gamma, beta},
         [x, gamma, beta, o = out.node(), mean, invstd, training, N, C, S]() mutable {
           batch_norm_backward(grad_or_null(x), grad_or_null(gamma), grad_or_null(beta),
                               o->grad.data(), x.data(), mean.data(), invstd.data(),
                               data_or_null(gamma), training, N, C, S);
         });
  return out;
}

}  // namespace engine
