// One unit's reconstruction; see reconstruct.h.
#include "genie/reconstruct.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/lr_schedule.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "engine/progress.h"

namespace genie {

namespace {

constexpr float kWarmup = 0.2f;  // the rounding loss starts after 20% of the iterations
constexpr float kBetaStart = 20.0f, kBetaEnd = 2.0f;

// The learned tensors of a unit, grouped by their optimiser.
struct Learned {
  std::vector<Tensor> bits, weight_steps, activation_steps;
};

Learned learned_tensors(const std::vector<QuantizedLayer*>& layers, const ReconstructConfig& c) {
  Learned l;
  for (QuantizedLayer* q : layers) {
    if (c.learn_bits) l.bits.push_back(q->weight->soft_bits);
    if (c.learn_weight_step) l.weight_steps.push_back(q->weight->step);
    // A shared quantizer (shortcut and first conv) is learned once.
    if (c.learn_activation_step && q->input && q->mode.p_quantized > 0.0f &&
        std::none_of(l.activation_steps.begin(), l.activation_steps.end(),
                     [&](const Tensor& t) { return t.node() == q->input->step.node(); }))
      l.activation_steps.push_back(q->input->step);
  }
  return l;
}

// An Adam over `params` (none: nullptr), with a cosine schedule when `anneal`.
struct Learner {
  std::unique_ptr<engine::Adam> adam;
  std::unique_ptr<engine::CosineAnnealingLR> cosine;
  Learner(const std::vector<Tensor>& params, float lr, bool anneal, int iters) {
    if (params.empty()) return;
    adam = std::make_unique<engine::Adam>(params, lr);
    if (anneal) cosine = std::make_unique<engine::CosineAnnealingLR>(*adam, iters);
  }
  void zero_grad() {
    if (adam) adam->zero_grad();
  }
  void step() {
    if (adam) adam->step();
    if (cosine) cosine->step();
  }
};

// The step's input: rows `idx` of X_q with probability p, element by element, else of X.
Tensor unit_input(const Tensor& x, const Tensor& x_q, const std::vector<int>& idx, float p,
                  engine::Rng& rng) {
  if (p >= 1.0f) return engine::gather_rows(x_q, idx);
  Tensor input = engine::gather_rows(x, idx);
  if (p <= 0.0f) return input;
  return engine::random_where(p, rng, engine::gather_rows(x_q, idx), input);
}

}  // namespace

Tensor reconstruction_loss(const Tensor& output, const Tensor& target) {
  Tensor squared = engine::square(engine::sub(output, target));
  return engine::mul_scalar(engine::sum_all(squared),
                            static_cast<float>(output.size(1)) / output.numel());
}

float rounding_beta(int it, int iters) {
  float start = kWarmup * iters;
  if (it < start) return kBetaStart;
  float progress = (it - start) / (iters - start);
  return kBetaEnd + (kBetaStart - kBetaEnd) * std::max(0.0f, 1.0f - progress);
}

ReconstructLoss reconstruct_unit(QuantizedResNet& q, int unit, const Tensor& x, const Tensor& x_q,
                                 const Tensor& y, const ReconstructConfig& c, engine::Rng& rng) {
  std::vector<QuantizedLayer*> layers = q.unit_layers(unit);
  if (c.iters <= 0) return {};
  if (c.learn_bits)
    for (QuantizedLayer* l : layers)
      if (!l->mode.soft_bits)
        throw std::logic_error("reconstruct_unit: learning the bits needs soft-bit mode");
  Learned learned = learned_tensors(layers, c);
  Learner bits(learned.bits, 1e-3f, false, c.iters);
  Learner weight_steps(learned.weight_steps, 1e-4f, true, c.iters);
  Learner activation_steps(learned.activation_steps, 4e-5f, true, c.iters);
  models::ForwardHooks hooks = q.hooks(rng);
  const int n = x.size(0), batch = std::clamp(c.batch, 1, n);
  engine::Progress progress("  " + q.model().unit_name(unit), c.iters);
  ReconstructLoss last;
  char status[96] = "";
  std::vector<int> order(n);
  for (int it = 1; it <= c.iters;) {
    for (int i = 0; i < n; ++i) order[i] = i;
    rng.shuffle(order);
    for (int start = 0; start + batch <= n && it <= c.iters; start += batch, ++it) {
      std::vector<int> idx(order.begin() + start, order.begin() + start + batch);
      Tensor input = unit_input(x, x_q, idx, c.p_quantized_input, rng);
      Tensor loss = reconstruction_loss(q.model().forward_unit(unit, input, hooks),
                                        engine::gather_rows(y, idx));
      last.reconstruction = loss.item();
      last.rounding = 0;
      float beta = rounding_beta(it, c.iters);
      if (c.learn_bits && it >= kWarmup * c.iters) {
        Tensor rounding({1}, 0.0f, input.device());
        for (QuantizedLayer* l : layers)
          rounding = engine::add(rounding, l->weight->rounding_loss(beta));
        last.rounding = rounding.item();
        loss = engine::add(loss, engine::mul_scalar(rounding, c.round_weight));
      }
      if (!std::isfinite(loss.item()))
        throw std::runtime_error("reconstruction of " + q.model().unit_name(unit) +
                                 " diverged at iteration " + std::to_string(it) + " (loss " +
                                 std::to_string(loss.item()) + "); nothing was written");
      for (Learner* l : {&bits, &weight_steps, &activation_steps}) l->zero_grad();
      loss.backward();
      for (Learner* l : {&bits, &weight_steps, &activation_steps}) l->step();
      std::snprintf(status, sizeof status, "rec=%.4g round=%.4g beta=%.1f", last.reconstruction,
                    last.rounding, beta);
      if (c.progress) progress.update(it, status);
      if (c.observe) c.observe(it, last.reconstruction, last.rounding, beta);
    }
  }
  if (c.progress) progress.finish(status);
  return last;
}

}  // namespace genie
