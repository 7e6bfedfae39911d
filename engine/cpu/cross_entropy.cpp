// CPU kernels of the softmax cross-entropy loss; rows in parallel, the loss summed in double.
#include <algorithm>
#include <cmath>

#include "engine/kernels.h"
#include "engine/threads.h"

namespace engine::cpu {

void cross_entropy_forward(float* loss, float* probs, const float* logits, const int32_t* labels,
                           int N, int K) {
  double total = 0.0;
#pragma omp parallel for schedule(static) reduction(+ : total) if (worth_threads(int64_t{N} * K))
  for (int i = 0; i < N; ++i) {
    const float* row = logits + int64_t{i} * K;
    float* p = probs + int64_t{i} * K;
    float max = *std::max_element(row, row + K);
    double z = 0.0;
    for (int k = 0; k < K; ++k) {
      p[k] = std::exp(row[k] - max);
      z += p[k];
    }
    for (int k = 0; k < K; ++k) p[k] = static_cast<float>(p[k] / z);
    total += std::log(z) + max - row[labels[i]];
  }
  *loss = static_cast<float>(total / N);
}

// dlogits += dloss * (probs - onehot(labels)) / N
void cross_entropy_backward(float* dlogits, const float* dloss, const float* probs,
                            const int32_t* labels, int N, int K) {
  float scale = *dloss / static_cast<float>(N);
#pragma omp parallel for schedule(static) if (worth_threads(int64_t{N} * K))
  for (int i = 0; i < N; ++i) {
    float* d = dlogits + int64_t{i} * K;
    const float* p = probs + int64_t{i} * K;
    for (int k = 0; k < K; ++k) d[k] += scale * p[k];
    d[labels[i]] -= scale;
  }
}

}  // namespace engine::cpu
