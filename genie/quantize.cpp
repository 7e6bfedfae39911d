// GENIE-M's unit-by-unit loop; see quantize.h.
#include "genie/quantize.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "engine/autograd.h"
#include "genie/reconstruct.h"

namespace genie {

namespace {

constexpr int kNoGradChunk = 32;  // images per no-grad pass over the caches: bounds the memory
// AdaRound's and BRECQ's reference code weigh the rounding loss by 0.01; GENIE-M by 1.
constexpr float kBaselineRoundWeight = 0.01f, kGenieRoundWeight = 1.0f;

// f applied to the images in chunks, without gradients: (N, ...) -> (N, ...).
template <class F>
Tensor map_chunks(const Tensor& in, F f) {
  engine::NoGrad no_grad;
  const int n = in.size(0);
  std::vector<Tensor> outputs;
  for (int start = 0; start < n; start += kNoGradChunk)
    outputs.push_back(f(engine::slice_rows(in, start, std::min(kNoGradChunk, n - start))));
  return engine::concat_rows(outputs);
}

// A NaN or an infinity in the model, its images or its quantizers reaches every later unit
// and would be saved as a file that evaluates to garbage: the run stops at the first one.
void require_finite(const Tensor& activations, const std::string& what, const std::string& unit) {
  if (!engine::all_finite(activations))
    throw std::runtime_error(what + " at " + unit +
                             " holds NaN or infinite values (are the model's weights and the "
                             "calibration images finite?); nothing was written");
}

// One pass of `stage` over every unit, from the calibration images.
void run_stage(models::ResNet& model, QuantizedResNet& q, const Tensor& calibration,
               const QuantStage& stage, bool progress, const Observer* observer, engine::Rng& rng) {
  models::ForwardHooks quantized = q.hooks(rng);
  // The current unit's float and quantized inputs, on the model's device from here on.
  Tensor x = calibration.to(model.device()), x_q = x;
  for (int u = 0; u < model.num_units(); ++u) {
    Tensor y = map_chunks(x, [&](const Tensor& in) { return model.forward_unit(u, in); });
    require_finite(y, "the float model's output", model.unit_name(u));
    if (progress)
      std::fprintf(stderr, "unit %d/%d %s%s: caches X, X_q, Y take %.1f MB\n", u + 1,
                   model.num_units(), model.unit_name(u).c_str(), stage.name.c_str(),
                   (2.0 * x.numel() + y.numel()) * sizeof(float) / 1e6);
    q.set_unit_mode(u, stage.learning);
    // Seen as reconstruction will see them: soft weights, QDrop where the method drops.
    if (stage.initializes_activations)
      q.initialize_activations(
          engine::slice_rows(x_q, 0, std::min(kActivationInitImages, x_q.size(0))), rng, u);
    ReconstructConfig reconstruct = stage.reconstruct;
    if (observer && observer->reconstruct_step)
      reconstruct.observe = [&](int it, float reconstruction, float rounding, float beta) {
        observer->reconstruct_step(u, stage.name, it, reconstruction, rounding, beta);
      };
    if (observer && observer->unit_begin) observer->unit_begin(q, u);
    reconstruct_unit(q, u, x, x_q, y, reconstruct, rng);
    if (observer && observer->unit_learned) observer->unit_learned(q, u);
    q.set_unit_mode(u, stage.done);
    x_q = map_chunks(x_q, [&](const Tensor& in) { return model.forward_unit(u, in, quantized); });
    require_finite(x_q, "the quantized model's output", model.unit_name(u));
    x = y;
  }
}

}  // namespace

QuantMethod parse_quant_method(const std::string& name) {
  if (name == "genie") return QuantMethod::Genie;
  if (name == "qdrop") return QuantMethod::QDrop;
  if (name == "brecq") return QuantMethod::Brecq;
  if (name == "adaround") return QuantMethod::AdaRound;
  if (name == "rtn") return QuantMethod::Rtn;
  throw std::invalid_argument("--method must be genie, qdrop, brecq, adaround or rtn, got '" +
                              name + "'");
}

std::string method_name(QuantMethod method) {
  switch (method) {
    case QuantMethod::Genie:
      return "genie";
    case QuantMethod::QDrop:
      return "qdrop";
    case QuantMethod::Brecq:
      return "brecq";
    case QuantMethod::AdaRound:
      return "adaround";
    case QuantMethod::Rtn:
      return "rtn";
  }
  return "?";
}

std::vector<QuantStage> method_stages(const QuantConfig& c, int images) {
  const LayerMode hard{false, 1.0f};
  QuantStage s{"", {true, c.p_quantized}, hard, true, {}};
  ReconstructConfig& r = s.reconstruct;
  r.iters = c.iters;
  r.batch = c.batch > 0 ? c.batch : std::max(1, images / kBatchesPerPass);
  r.round_weight = kGenieRoundWeight;
  r.p_quantized_input = c.p_quantized;
  r.progress = c.progress;
  std::vector<QuantStage> stages;
  switch (c.method) {
    case QuantMethod::Genie:
      stages = {s};
      break;
    case QuantMethod::QDrop:
      r.learn_weight_step = false;
      stages = {s};
      break;
    case QuantMethod::AdaRound:
      s.learning = {true, 1.0f};
      r.learn_weight_step = r.learn_activation_step = false;
      r.round_weight = kBaselineRoundWeight;
      r.p_quantized_input = 1.0f;
      stages = {s};
      break;
    case QuantMethod::Rtn:
      s.learning = hard;
      r.iters = 0;
      stages = {s};
      break;
    case QuantMethod::Brecq: {
      QuantStage weights = s, activations = s;
      weights.name = " (brecq weights)";
      weights.learning = {true, 0.0f};
      weights.done = {false, 0.0f};
      weights.initializes_activations = false;
      weights.reconstruct.learn_weight_step = weights.reconstruct.learn_activation_step = false;
      weights.reconstruct.round_weight = kBaselineRoundWeight;
      weights.reconstruct.p_quantized_input = 1.0f;
      activations.name = " (brecq activations)";
      activations.learning = hard;
      activations.reconstruct.learn_bits = activations.reconstruct.learn_weight_step = false;
      activations.reconstruct.p_quantized_input = 0.0f;
      stages = {weights, activations};
      break;
    }
  }
  if (c.round_weight)
    for (QuantStage& stage : stages) stage.reconstruct.round_weight = *c.round_weight;
  return stages;
}

std::unique_ptr<QuantizedResNet> quantize(models::ResNet& model, const Tensor& calibration,
                                          const QuantConfig& c) {
  if (calibration.ndim() != 4 || calibration.size(0) < 1)
    throw std::invalid_argument("calibration images must be (N, C, S, S), got " +
                                engine::shape_str(calibration.shape()));
  model.set_trainable(false);
  auto q = std::make_unique<QuantizedResNet>(model, c.policy);
  engine::Rng rng(c.seed);
  for (const QuantStage& stage : method_stages(c, calibration.size(0)))
    run_stage(model, *q, calibration, stage, c.progress, c.observer, rng);
  return q;
}

}  // namespace genie
