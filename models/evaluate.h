// Top-1 / top-5 accuracy of a model on a dataset, in eval mode without gradients.
#pragma once

#include <cstdint>

#include "engine/dataset/dataset.h"
#include "models/resnet.h"

namespace models {

struct Accuracy {
  double top1 = 0.0;  // percent
  double top5 = 0.0;  // percent
  int64_t n = 0;
  int64_t non_finite = 0;  // samples whose logits hold a NaN or an infinity: counted wrong
};

// The first `limit` images (all when limit <= 0), in dataset order, batches of `batch`.
// `hooks` lets a quantized model evaluate through its fake-quantized layers. A sample whose
// logits are not all finite is a miss (no comparison with NaN can make it a hit), and a
// warning on stderr counts such samples.
Accuracy evaluate(ResNet& model, const engine::Dataset& data, int batch, int64_t limit = 0,
                  const ForwardHooks& hooks = {});

// Images loaded from a dataset and normalised for `model`.
engine::Batch load_normalized(ResNet& model, const engine::Dataset& data,
                              const std::vector<int64_t>& indices);

}  // namespace models
