// GENIE-M's unit-by-unit loop; see quantize.h.
#include "genie/quantize.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "engine/autograd.h"
#include "genie/memory_plan.h"
#include "genie/quantize_state.h"
#include "genie/quantized_file.h"
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

std::string duration_text(double seconds) {
  char s[32];
  int total = static_cast<int>(seconds + 0.5);
  if (total >= 3600)
    std::snprintf(s, sizeof s, "%dh%02dm", total / 3600, total / 60 % 60);
  else
    std::snprintf(s, sizeof s, "%dm%02ds", total / 60, total % 60);
  return s;
}

// The passes of a method over the units, from `start` on, with a checkpoint after every unit.
class StageRunner {
 public:
  StageRunner(models::ResNet& model, QuantizedResNet& q, const Tensor& calibration,
              const QuantConfig& c)
      : model_(model),
        q_(q),
        calibration_(calibration),
        c_(c),
        stages_(method_stages(c, calibration.size(0))),
        rng_(c.seed),
        identity_(c.state_path.empty() ? RunIdentity{} : run_identity(model, calibration, c)) {}

  void run() {
    QuantizePosition start;
    if (c_.resume && !c_.state_path.empty() && std::filesystem::exists(c_.state_path)) {
      start = load_quantize_state(c_.state_path, q_, identity_, rng_);
      std::fprintf(stderr, "resuming %s at pass %d, unit %d\n", c_.state_path.c_str(),
                   start.stage + 1, start.unit + 1);
    }
    started_ = std::chrono::steady_clock::now();
    units_left_ =
        (static_cast<int>(stages_.size()) - start.stage) * model_.num_units() - start.unit;
    for (int s = 0; s < static_cast<int>(stages_.size()); ++s) {
      if (s < start.stage) {  // a finished pass: its units stay as it left them
        for (int u = 0; u < model_.num_units(); ++u) q_.set_unit_mode(u, stages_[s].done);
        continue;
      }
      run_stage(s, s == start.stage ? start.unit : 0);
    }
  }

 private:
  // One pass of stage `s` over every unit; units before `first` are done already (resumed),
  // and are only run again, hard-rounded, to rebuild the caches.
  void run_stage(int s, int first) {
    const QuantStage& stage = stages_[s];
    models::ForwardHooks quantized = q_.hooks(rng_);
    // The current unit's float and quantized inputs, on the model's device from here on.
    Tensor x = calibration_.to(model_.device()), x_q = x;
    for (int u = 0; u < model_.num_units(); ++u) {
      Tensor y = map_chunks(x, [&](const Tensor& in) { return model_.forward_unit(u, in); });
      require_finite(y, "the float model's output", model_.unit_name(u));
      if (u >= first)
        learn_unit(stage, u, x, x_q, y);
      else
        q_.set_unit_mode(u, stage.done);
      x_q =
          map_chunks(x_q, [&](const Tensor& in) { return model_.forward_unit(u, in, quantized); });
      require_finite(x_q, "the quantized model's output", model_.unit_name(u));
      x = y;
      if (u >= first) finished_unit(s, u);
    }
  }

  void learn_unit(const QuantStage& stage, int u, const Tensor& x, const Tensor& x_q,
                  const Tensor& y) {
    if (c_.progress)
      std::fprintf(stderr, "unit %d/%d %s%s: caches X, X_q, Y take %.1f MB\n", u + 1,
                   model_.num_units(), model_.unit_name(u).c_str(), stage.name.c_str(),
                   (2.0 * x.numel() + y.numel()) * sizeof(float) / 1e6);
    q_.set_unit_mode(u, stage.learning);
    // Seen as reconstruction will see them: soft weights, QDrop where the method drops.
    if (stage.initializes_activations)
      q_.initialize_activations(
          engine::slice_rows(x_q, 0, std::min(kActivationInitImages, x_q.size(0))), rng_, u);
    const Observer* observer = c_.observer;
    ReconstructConfig reconstruct = stage.reconstruct;
    if (observer && observer->reconstruct_step)
      reconstruct.observe = [&](int it, float reconstruction, float rounding, float beta) {
        observer->reconstruct_step(u, stage.name, it, reconstruction, rounding, beta);
      };
    if (observer && observer->unit_begin) observer->unit_begin(q_, u);
    reconstruct_unit(q_, u, x, x_q, y, reconstruct, rng_);
    if (observer && observer->unit_learned) observer->unit_learned(q_, u);
    q_.set_unit_mode(u, stage.done);
  }

  // Checkpoints the unit, and says how long the rest should take at this run's pace.
  void finished_unit(int s, int u) {
    if (!c_.state_path.empty()) {
      QuantizePosition next{s, u + 1};
      if (next.unit == model_.num_units()) next = {s + 1, 0};
      save_quantize_state(c_.state_path, q_, identity_, next, rng_);
    }
    ++units_done_;
    if (!c_.progress) return;
    double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    int left = units_left_ - units_done_;
    std::fprintf(stderr, "unit %d/%d done: %s elapsed, about %s left\n", u + 1, model_.num_units(),
                 duration_text(elapsed).c_str(),
                 duration_text(elapsed / units_done_ * left).c_str());
  }

  models::ResNet& model_;
  QuantizedResNet& q_;
  const Tensor& calibration_;
  const QuantConfig& c_;
  std::vector<QuantStage> stages_;
  engine::Rng rng_;
  RunIdentity identity_;
  std::chrono::steady_clock::time_point started_;
  int units_left_ = 0, units_done_ = 0;
};

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
  MemoryPlan plan = plan_quantization(
      model, calibration.size(0), method_stages(c, calibration.size(0)).front().reconstruct.batch);
  if (c.progress) std::fprintf(stderr, "%s\n", describe(plan).c_str());
  require_memory(plan, model.device());
  model.set_trainable(false);
  auto q = std::make_unique<QuantizedResNet>(model, c.policy);
  StageRunner(model, *q, calibration, c).run();
  return q;
}

std::unique_ptr<QuantizedResNet> quantize_to_file(models::ResNet& model, const Tensor& calibration,
                                                  QuantConfig config, const std::string& path) {
  config.state_path = path + ".state";
  auto q = quantize(model, calibration, config);
  save_quantized(path, *q, method_name(config.method));
  std::filesystem::remove(config.state_path);  // the result is safe: the checkpoint is done
  return q;
}

}  // namespace genie
