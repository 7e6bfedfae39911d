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

constexpr int kChunk = 32;  // images per no-grad pass; also the activation quantizers' init batch

// f applied to the images in chunks of 32, without gradients: (N, ...) -> (N, ...).
template <class F>
Tensor map_chunks(const Tensor& in, F f) {
  engine::NoGrad no_grad;
  const int n = in.size(0);
  std::vector<Tensor> outputs;
  for (int start = 0; start < n; start += kChunk)
    outputs.push_back(f(engine::slice_rows(in, start, std::min(kChunk, n - start))));
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

void set_mode(const std::vector<QuantizedLayer*>& layers, bool soft, float drop, bool inputs) {
  for (QuantizedLayer* l : layers) {
    l->soft = soft;
    l->drop = drop;
    l->quantize_input = inputs;
  }
}

ReconstructConfig stage(const QuantConfig& c, int n) {
  ReconstructConfig r;
  r.iters = c.iters;
  r.batch = c.batch > 0 ? c.batch : std::max(1, n / 32);
  r.round_weight = c.round_weight;
  r.drop = c.drop;
  r.progress = c.progress;
  return r;
}

// The method's reconstruction of one unit, on its caches.
void reconstruct(QuantizedResNet& q, int unit, const Tensor& x, const Tensor& x_q, const Tensor& y,
                 const QuantConfig& c, engine::Rng& rng) {
  ReconstructConfig r = stage(c, x.size(0));
  std::vector<QuantizedLayer*> layers = q.unit_layers(unit);
  switch (c.method) {
    case QuantMethod::Rtn:
      return;
    case QuantMethod::Genie:
      reconstruct_unit(q, unit, x, x_q, y, r, rng);
      return;
    case QuantMethod::QDrop:
      r.learn_weight_step = false;
      reconstruct_unit(q, unit, x, x_q, y, r, rng);
      return;
    case QuantMethod::AdaRound:
      r.learn_weight_step = r.learn_activation_step = false;
      r.drop = 0.0f;
      reconstruct_unit(q, unit, x, x_q, y, r, rng);
      return;
    case QuantMethod::Brecq: {
      ReconstructConfig weights = r;
      weights.learn_weight_step = weights.learn_activation_step = false;
      weights.drop = 0.0f;
      set_mode(layers, true, 0.0f, false);
      reconstruct_unit(q, unit, x, x, y, weights, rng);  // float inputs in this stage
      set_mode(layers, false, 0.0f, true);
      ReconstructConfig activations = r;
      activations.learn_bits = activations.learn_weight_step = false;
      activations.drop = 0.0f;
      reconstruct_unit(q, unit, x, x_q, y, activations, rng);
      return;
    }
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

std::unique_ptr<QuantizedResNet> quantize(models::ResNet& model, const Tensor& calibration,
                                          const QuantConfig& c) {
  if (calibration.ndim() != 4 || calibration.size(0) < 1)
    throw std::invalid_argument("calibration images must be (N, C, S, S), got " +
                                engine::shape_str(calibration.shape()));
  model.set_trainable(false);
  auto q = std::make_unique<QuantizedResNet>(model, c.policy);
  engine::Rng rng(c.seed);
  models::ForwardHooks quantized = q->hooks(rng);
  // The current unit's float and quantized inputs, on the model's device from here on.
  Tensor x = calibration.to(model.device()), x_q = x;
  for (int u = 0; u < model.num_units(); ++u) {
    Tensor y = map_chunks(x, [&](const Tensor& in) { return model.forward_unit(u, in); });
    require_finite(y, "the float model's output", model.unit_name(u));
    if (c.progress)
      std::fprintf(stderr, "unit %d/%d %s: caches X, X_q, Y take %.1f MB\n", u + 1,
                   model.num_units(), model.unit_name(u).c_str(),
                   (2.0 * x.numel() + y.numel()) * sizeof(float) / 1e6);
    std::vector<QuantizedLayer*> layers = q->unit_layers(u);
    // The activation quantizers initialise on the unit's first 32 quantized-model inputs,
    // seen as reconstruction will see them (soft weights, QDrop where the method drops).
    bool learns = c.method != QuantMethod::Rtn;
    bool drops = c.method == QuantMethod::Genie || c.method == QuantMethod::QDrop;
    set_mode(layers, learns, drops ? c.drop : 0.0f, true);
    {
      engine::NoGrad no_grad;
      model.forward_unit(u, engine::slice_rows(x_q, 0, std::min(kChunk, x_q.size(0))), quantized);
    }
    reconstruct(*q, u, x, x_q, y, c, rng);
    set_mode(layers, false, 0.0f, true);
    x_q = map_chunks(x_q, [&](const Tensor& in) { return model.forward_unit(u, in, quantized); });
    require_finite(x_q, "the quantized model's output", model.unit_name(u));
    x = y;
  }
  return q;
}

}  // namespace genie
