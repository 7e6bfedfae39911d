// Batch normalization over (N, C, S), as engine/ops/batch_norm.cpp.
//
// Per-channel sums (batch mean, squared deviations, and the backward's sum g and sum g * xhat)
// are reduce_each over the M = N * S values of a channel: one or more blocks per channel, in
// double, deterministic; the statistics take two passes (mean, then deviations from it) because
// E[x^2] - E[x]^2 cancels. The normalisation and dx are one thread per element.
#include <cmath>

#include "engine/cuda/launch.cuh"
#include "engine/cuda/reduce.cuh"
#include "engine/cuda/scratch.h"
#include "engine/kernels.h"

namespace engine::cuda {

namespace {

// Element t of channel c: x[n, c, s] with n = t / S, s = t % S.
struct ChannelLayout {
  int C, S;
  __device__ int64_t at(int64_t c, int64_t t) const { return (t / S * C + c) * S + t % S; }
};

struct ChannelValues {
  const float* x;
  ChannelLayout layout;
  __device__ double operator()(int64_t c, int64_t t) const { return x[layout.at(c, t)]; }
};

struct StoreBatchMean {
  double* mean;
  int64_t M;
  __device__ void operator()(int64_t c, double sum) const {
    mean[c] = sum / static_cast<double>(M);
  }
};

struct SquaredDeviations {
  const float* x;
  const double* mean;
  ChannelLayout layout;
  __device__ double operator()(int64_t c, int64_t t) const {
    double d = x[layout.at(c, t)] - mean[c];
    return d * d;
  }
};

// From the batch mean and sum of squared deviations: mean, invstd, and the running statistics
// blended with the unbiased variance, in double and rounded once, as PyTorch's CPU kernel.
struct StoreBatchStatistics {
  float *mean, *invstd, *running_mean, *running_var;
  const double* batch_mean;
  int64_t M;
  double momentum, eps;
  __device__ void operator()(int64_t c, double sum_sq_dev) const {
    double biased_var = sum_sq_dev / static_cast<double>(M);
    double unbiased_var = sum_sq_dev / static_cast<double>(M - 1);
    mean[c] = static_cast<float>(batch_mean[c]);
    invstd[c] = static_cast<float>(1.0 / sqrt(biased_var + eps));
    running_mean[c] =
        static_cast<float>((1.0 - momentum) * running_mean[c] + momentum * batch_mean[c]);
    running_var[c] =
        static_cast<float>((1.0 - momentum) * running_var[c] + momentum * unbiased_var);
  }
};

struct RunningStatistics {
  float *mean, *invstd;
  const float *running_mean, *running_var;
  double eps;
  __device__ void operator()(int64_t c) const {
    mean[c] = running_mean[c];
    invstd[c] = static_cast<float>(1.0 / sqrt(static_cast<double>(running_var[c]) + eps));
  }
};

// out = (x - mean) * invstd * gamma + beta; gamma or beta null means 1 or 0.
struct Normalize {
  float* out;
  const float *x, *mean, *invstd, *gamma, *beta;
  int C, S;
  __device__ void operator()(int64_t i) const {
    int c = static_cast<int>(i / S % C);
    float scale = invstd[c] * (gamma ? gamma[c] : 1.0f);
    float shift = beta ? beta[c] : 0.0f;
    out[i] = (x[i] - mean[c]) * scale + shift;
  }
};

struct GradTimesXhat {
  const float *dout, *x, *mean, *invstd;
  ChannelLayout layout;
  __device__ double operator()(int64_t c, int64_t t) const {
    int64_t i = layout.at(c, t);
    return static_cast<double>(dout[i]) * (x[i] - mean[c]) * invstd[c];
  }
};

// Keeps the channel's sum for dx's step and adds it into a parameter's gradient, if any.
struct KeepSum {
  double* kept;
  float* grad;
  __device__ void operator()(int64_t c, double sum) const {
    kept[c] = sum;
    if (grad) grad[c] += static_cast<float>(sum);
  }
};

// dx += gamma * invstd * (g - [batch_stats] (sum g + xhat * sum g * xhat) / M)
struct BatchNormDx {
  float* dx;
  const float *dout, *x, *mean, *invstd, *gamma;
  const double *sum_g, *sum_g_xhat;
  bool batch_stats;
  int C, S;
  int64_t M;
  __device__ void operator()(int64_t i) const {
    int c = static_cast<int>(i / S % C);
    float scale = invstd[c] * (gamma ? gamma[c] : 1.0f);
    float mean_g = batch_stats ? static_cast<float>(sum_g[c] / M) : 0.0f;
    float mean_g_xhat = batch_stats ? static_cast<float>(sum_g_xhat[c] / M) : 0.0f;
    float xhat = (x[i] - mean[c]) * invstd[c];
    dx[i] += scale * (dout[i] - mean_g - xhat * mean_g_xhat);
  }
};

}  // namespace

void batch_norm_batch_statistics(float* mean, float* invstd, float* running_mean,
                                 float* running_var, const float* x, int N, int C, int S,
                                 float momentum, float eps) {
  const int64_t M = int64_t{N} * S;
  const ChannelLayout layout{C, S};
  DeviceArray<double> batch_mean(C);
  reduce_each("batch_norm_batch_statistics", C, M, ChannelValues{x, layout},
              StoreBatchMean{batch_mean.get(), M});
  reduce_each("batch_norm_batch_statistics", C, M, SquaredDeviations{x, batch_mean.get(), layout},
              StoreBatchStatistics{mean, invstd, running_mean, running_var, batch_mean.get(), M,
                                   momentum, eps});
}

void batch_norm_running_statistics(float* mean, float* invstd, const float* running_mean,
                                   const float* running_var, int C, float eps) {
  for_each_index("batch_norm_running_statistics", C,
                 RunningStatistics{mean, invstd, running_mean, running_var, eps});
}

void batch_norm_forward(float* out, const float* x, const float* mean, const float* invstd,
                        const float* gamma, const float* beta, int N, int C, int S) {
  for_each_index("batch_norm_forward", int64_t{N} * C * S,
                 Normalize{out, x, mean, invstd, gamma, beta, C, S});
}

void batch_norm_backward(float* dx, float* dgamma, float* dbeta, const float* dout, const float* x,
                         const float* mean, const float* invstd, const float* gamma,
                         bool batch_stats, int N, int C, int S) {
  const int64_t M = int64_t{N} * S;
  const ChannelLayout layout{C, S};
  DeviceArray<double> sum_g(C), sum_g_xhat(C);
  // dx needs the sums only through the batch statistics.
  if (dbeta || (dx && batch_stats))
    reduce_each("batch_norm_backward", C, M, ChannelValues{dout, layout},
                KeepSum{sum_g.get(), dbeta});
  if (dgamma || (dx && batch_stats))
    reduce_each("batch_norm_backward", C, M, GradTimesXhat{dout, x, mean, invstd, layout},
                KeepSum{sum_g_xhat.get(), dgamma});
  if (dx)
    for_each_index("batch_norm_backward", M * C,
                   BatchNormDx{dx, dout, x, mean, invstd, gamma, sum_g.get(), sum_g_xhat.get(),
                               batch_stats, C, S, M});
}

}  // namespace engine::cuda
