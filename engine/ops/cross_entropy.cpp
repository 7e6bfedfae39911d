// Softmax cross-entropy loss: mean over the batch of -log softmax(logits)[label].
//
// Shapes: logits (N, K), labels (N) with values in [0, K), loss (1), probs (N, K).
// The log-sum-exp subtracts each row's maximum so exp never overflows; the forward keeps the
// softmax probabilities because the gradient, (softmax - onehot(label)) / N, is made of them.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "engine/autograd.h"
#include "engine/ops.h"

namespace engine {

namespace {

void cross_entropy_forward(float* loss, float* probs, const float* logits, const int* labels, int N,
                           int K) {
  double total = 0.0;
#pragma omp parallel for schedule(static) reduction(+ : total) if (int64_t{N} * K > 65536)
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
void cross_entropy_backward(float* dlogits, float dloss, const float* probs, const int* labels,
                            int N, int K) {
  float scale = dloss / static_cast<float>(N);
#pragma omp parallel for schedule(static) if (int64_t{N} * K > 65536)
  for (int i = 0; i < N; ++i) {
    float* d = dlogits + int64_t{i} * K;
    const float* p = probs + int64_t{i} * K;
    for (int k = 0; k < K; ++k) d[k] += scale * p[k];
    d[labels[i]] -= scale;
  }
}

}  // namespace

Tensor softmax_cross_entropy(const Tensor& logits, const std::vector<int>& labels) {
  if (logits.ndim() != 2 || logits.size(0) < 1 || logits.size(1) < 1 ||
      static_cast<size_t>(logits.size(0)) != labels.size())
    throw std::invalid_argument("softmax_cross_entropy needs logits (N, classes) with N >= 1 and " +
                                std::to_string(labels.size()) + " labels, got logits " +
                                shape_str(logits.shape()));
  int N = logits.size(0), K = logits.size(1);
  for (int i = 0; i < N; ++i)
    if (labels[i] < 0 || labels[i] >= K)
      throw std::invalid_argument("label " + std::to_string(labels[i]) + " at " +
                                  std::to_string(i) + " is outside [0, " + std::to_string(K) +
                                  ") for logits " + shape_str(logits.shape()));
  Tensor loss({1});
  Tensor probs(logits.shape());
  cross_entropy_forward(loss.data(), probs.data(), logits.data(), labels.data(), N, K);
  record(loss, {logits}, [logits, probs, labels, o = loss.node(), N, K]() mutable {
    cross_entropy_backward(logits.grad(), o->grad[0], probs.data(), labels.data(), N, K);
  });
  return loss;
}

}  // namespace engine
