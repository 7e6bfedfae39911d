// CPU kernels of batch normalization over (N, C, S): statistics, forward, backward. Each
// channel is reduced by one thread in a fixed order, so results are deterministic.
#include <cmath>
#include <vector>

#include "engine/kernels.h"
#include "engine/threads.h"

namespace engine::cpu {

namespace {

// Per-channel mean and sum of squared deviations, two passes in double: M reaches 10^5 and more,
// and one-pass E[x^2] - E[x]^2 cancels catastrophically.
void batch_norm_statistics(double* mean, double* sum_sq_dev, const float* x, int N, int C, int S) {
  int64_t M = int64_t{N} * S;
#pragma omp parallel for schedule(static) if (worth_threads(M * C))
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

}  // namespace

void batch_norm_batch_statistics(float* mean, float* invstd, float* running_mean,
                                 float* running_var, const float* x, int N, int C, int S,
                                 float momentum, float eps) {
  int64_t M = int64_t{N} * S;
  std::vector<double> batch_mean(C), sum_sq_dev(C);
  batch_norm_statistics(batch_mean.data(), sum_sq_dev.data(), x, N, C, S);
  double m = momentum;
  for (int c = 0; c < C; ++c) {
    double biased_var = sum_sq_dev[c] / static_cast<double>(M);
    double unbiased_var = sum_sq_dev[c] / static_cast<double>(M - 1);
    mean[c] = static_cast<float>(batch_mean[c]);
    invstd[c] = static_cast<float>(1.0 / std::sqrt(biased_var + eps));
    running_mean[c] = static_cast<float>((1.0 - m) * running_mean[c] + m * batch_mean[c]);
    running_var[c] = static_cast<float>((1.0 - m) * running_var[c] + m * unbiased_var);
  }
}

void batch_norm_running_statistics(float* mean, float* invstd, const float* running_mean,
                                   const float* running_var, int C, float eps) {
  for (int c = 0; c < C; ++c) {
    mean[c] = running_mean[c];
    invstd[c] = static_cast<float>(1.0 / std::sqrt(static_cast<double>(running_var[c]) + eps));
  }
}

// out = (x - mean) * invstd * gamma + beta; gamma or beta null means 1 or 0 (non-affine).
void batch_norm_forward(float* out, const float* x, const float* mean, const float* invstd,
                        const float* gamma, const float* beta, int N, int C, int S) {
#pragma omp parallel for schedule(static) if (worth_threads(int64_t{N} * C * S))
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
#pragma omp parallel for schedule(static) if (worth_threads(M * C))
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

}  // namespace engine::cpu
