// Accuracy evaluation; see evaluate.h.
#include "models/evaluate.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "engine/autograd.h"
#include "engine/progress.h"

namespace models {

namespace {
bool finite_row(const float* row, int classes) {
  return std::all_of(row, row + classes, [](float v) { return std::isfinite(v); });
}

// How many of the k largest logits of row `r` include the label (0 or 1).
int in_top_k(const float* row, int classes, int label, int k) {
  int larger = 0;
  for (int c = 0; c < classes; ++c)
    if (row[c] > row[label] || (row[c] == row[label] && c < label)) ++larger;
  return larger < k ? 1 : 0;
}
}  // namespace

engine::Batch load_normalized(ResNet& model, const engine::Dataset& data,
                              const std::vector<int64_t>& indices) {
  engine::Batch b = data.load(indices);
  engine::normalize(b.images, model.config().mean, model.config().std);
  return b;
}

Accuracy evaluate(ResNet& model, const engine::Dataset& data, int batch, int64_t limit,
                  const ForwardHooks& hooks) {
  if (batch < 1) throw std::invalid_argument("--batch must be at least 1");
  if (data.num_classes() > model.config().num_classes)
    throw std::invalid_argument("dataset has " + std::to_string(data.num_classes()) +
                                " classes but the model predicts " +
                                std::to_string(model.config().num_classes));
  int64_t n = limit > 0 ? std::min(limit, data.size()) : data.size();
  engine::NoGrad no_grad;
  engine::Progress progress("eval", n);
  int64_t top1 = 0, top5 = 0, non_finite = 0;
  int classes = model.config().num_classes;
  char status[64] = "";
  for (int64_t start = 0; start < n; start += batch) {
    std::vector<int64_t> idx;
    for (int64_t i = start; i < std::min(n, start + batch); ++i) idx.push_back(i);
    engine::Batch b = load_normalized(model, data, idx);
    // The batch goes to the model's device, the logits come back: the two edges of a step.
    const std::vector<float> logits = model.forward(b.images.to(model.device()), hooks).values();
    for (size_t i = 0; i < idx.size(); ++i) {
      const float* row = logits.data() + i * classes;
      if (!finite_row(row, classes)) {
        ++non_finite;
        continue;
      }
      top1 += in_top_k(row, classes, b.labels[i], 1);
      top5 += in_top_k(row, classes, b.labels[i], std::min(5, classes));
    }
    int64_t done = start + static_cast<int64_t>(idx.size());
    std::snprintf(status, sizeof status, "top1=%.2f", 100.0 * top1 / done);
    progress.update(done, status);
  }
  progress.finish(status);
  if (non_finite > 0)
    std::fprintf(stderr,
                 "warning: %lld of %lld samples gave NaN or infinite logits and count as wrong: "
                 "the model's weights or normalisation hold non-finite values, or overflow\n",
                 static_cast<long long>(non_finite), static_cast<long long>(n));
  return {100.0 * top1 / std::max<int64_t>(n, 1), 100.0 * top5 / std::max<int64_t>(n, 1), n,
          non_finite};
}

}  // namespace models
