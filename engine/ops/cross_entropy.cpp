// Softmax cross-entropy loss: mean over the batch of -log softmax(logits)[label].
//
// Shapes: logits (N, K), labels (N) with values in [0, K), loss (1), probs (N, K).
// The log-sum-exp subtracts each row's maximum so exp never overflows; the forward keeps the
// softmax probabilities because the gradient, (softmax - onehot(label)) / N, is made of them.
#include <stdexcept>
#include <string>

#include <memory>

#include "engine/autograd.h"
#include "engine/kernels.h"
#include "engine/ops.h"

namespace engine {


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
  Device device = logits.device();
  auto on_device = std::make_shared<Storage>(device, labels.size() * sizeof(int32_t));
  copy_between(*on_device, labels.data(), labels.size() * sizeof(int32_t));
  Tensor loss({1}, 0.0f, device);
  Tensor probs(logits.shape(), 0.0f, device);
  GENIE_KERNEL(device, cross_entropy_forward)
  (loss.data(), probs.data(), logits.data(), on_device->as<int32_t>(), N, K);
  record(loss, {logits}, [logits, probs, on_device, o = loss.node(), N, K]() {
    GENIE_KERNEL(o->device(), cross_entropy_backward)
    (logits.grad(), o->gradient(), probs.data(), on_device->as<int32_t>(), N, K);
  });
  return loss;
}

}  // namespace engine
