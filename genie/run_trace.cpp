// Recording a run for its report, and reading it back; see run_trace.h.
#include "genie/run_trace.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include "engine/autograd.h"
#include "engine/tensor_file.h"
#include "genie/quantized_resnet.h"
#include "genie/tsv.h"

namespace genie {

namespace {

const std::vector<std::string> kRunColumns{"key", "value"};
const std::vector<std::string> kResultColumns{"method", "bits",    "calibration", "top1",
                                              "drop",   "seconds", "size_MB"};
const std::vector<std::string> kDistillColumns{"iteration", "bns_loss", "input_loss"};
const std::vector<std::string> kUnitColumns{"unit",           "unit_name", "stage", "iteration",
                                            "reconstruction", "rounding",  "beta"};
const std::vector<std::string> kLayerColumns{"layer", "unit", "bits", "weights",
                                             "away_from_nearest"};
const std::vector<std::string> kStepColumns{"layer", "channel", "initial_step", "learned_step"};
const std::vector<std::string> kSoftBitColumns{"layer", "bin", "count"};

std::string file_in(const std::string& out_dir, const std::string& name) {
  return trace_folder(out_dir) + "/" + name;
}

bool recorded(int iteration) {
  return iteration <= kDenseIterations || iteration % kSparseEvery == 0;
}

// The stage's name as a field: GENIE-M's single stage has none.
std::string stage_field(const std::string& stage) {
  std::string s = stage;
  s.erase(std::remove_if(s.begin(), s.end(), [](char c) { return c == '(' || c == ')'; }), s.end());
  s.erase(0, s.find_first_not_of(' '));
  return s.empty() ? "-" : s;
}

std::string layer_name(QuantizedResNet& q, const QuantizedLayer* layer) {
  for (auto& [name, l] : q.layers())
    if (&l == layer) return name;
  throw std::logic_error("a unit layer without a name");
}

std::vector<float> float_weight(QuantizedResNet& q, const std::string& layer) {
  for (auto& [name, tensor] : q.model().named_tensors())
    if (name == layer + ".weight") return tensor->values();
  throw std::logic_error("no float weight for " + layer);
}

// The share of the final hard codes that differ from round-to-nearest of W / s + zp with the
// final step s: how much the learned rounding moved.
double away_from_nearest(const WeightQuantizer& w, const std::vector<float>& weight) {
  const std::vector<float> codes = w.hard_codes().values(), steps = w.step.values(),
                           zero_points = w.zero_point.values();
  const float max_code = static_cast<float>((1 << w.bits()) - 1);
  const size_t per = weight.size() / steps.size();
  size_t away = 0;
  for (size_t i = 0; i < weight.size(); ++i) {
    size_t k = i / per;
    float nearest =
        std::clamp(std::nearbyint(weight[i] / steps[k]) + zero_points[k], 0.0f, max_code);
    away += nearest != codes[i];
  }
  return static_cast<double>(away) / weight.size();
}

std::vector<double> soft_bit_histogram(const WeightQuantizer& w) {
  std::vector<double> counts(kSoftBitBins, 0.0);
  for (float h : w.rectified_sigmoid().values())
    counts[std::min(kSoftBitBins - 1, static_cast<int>(h * kSoftBitBins))] += 1;
  return counts;
}

std::vector<double> as_doubles(const std::vector<float>& values) {
  return std::vector<double>(values.begin(), values.end());
}

// ---- reading ----

RunInfo read_info(const std::string& out_dir) {
  const std::string path = file_in(out_dir, "run.tsv");
  const Tsv t = read_tsv(path, kRunColumns);
  auto row = [&](const std::string& key) {
    for (size_t r = 0; r < t.rows.size(); ++r)
      if (t.rows[r][0] == key) return r;
    throw engine::FileError(path + ": no '" + key + "' line");
  };
  auto text = [&](const std::string& key) { return t.rows[row(key)][1]; };
  auto integer = [&](const std::string& key) {
    return static_cast<int>(tsv_number(t, row(key), "value", path));
  };
  RunInfo info;
  info.model = text("model") == "-" ? "" : text("model");
  info.data = text("data");
  info.budget = text("budget");
  info.distill_batches = integer("distill_batches");
  info.weight_bits = integer("wbits");
  info.activation_bits = integer("abits");
  return info;
}

std::vector<ResultRow> read_results(const std::string& out_dir) {
  const std::string path = file_in(out_dir, "results.tsv");
  Tsv t = read_tsv(path, kResultColumns);
  std::vector<ResultRow> rows;
  for (size_t r = 0; r < t.rows.size(); ++r)
    rows.push_back({t.rows[r][0], t.rows[r][1], t.rows[r][2], tsv_number(t, r, "top1", path),
                    tsv_number(t, r, "drop", path), tsv_number(t, r, "seconds", path),
                    tsv_number(t, r, "size_MB", path)});
  return rows;
}

DistillCurve read_distill_curve(const std::string& path) {
  Tsv t = read_tsv(path, kDistillColumns);
  DistillCurve c;
  for (size_t r = 0; r < t.rows.size(); ++r) {
    c.iteration.push_back(tsv_number(t, r, "iteration", path));
    c.bns_loss.push_back(tsv_number(t, r, "bns_loss", path));
    c.input_loss.push_back(tsv_number(t, r, "input_loss", path));
  }
  return c;
}

std::vector<UnitCurve> read_units(const std::string& out_dir) {
  const std::string path = file_in(out_dir, "reconstruct.tsv");
  Tsv t = read_tsv(path, kUnitColumns);
  std::vector<UnitCurve> units;
  for (size_t r = 0; r < t.rows.size(); ++r) {
    int unit = static_cast<int>(tsv_number(t, r, "unit", path));
    const std::string& stage = t.rows[r][2];
    if (units.empty() || units.back().unit != unit || units.back().stage != stage)
      units.push_back({unit, t.rows[r][1], stage, {}, {}, {}, {}});
    UnitCurve& u = units.back();
    u.iteration.push_back(tsv_number(t, r, "iteration", path));
    u.reconstruction.push_back(tsv_number(t, r, "reconstruction", path));
    u.rounding.push_back(tsv_number(t, r, "rounding", path));
    u.beta.push_back(tsv_number(t, r, "beta", path));
  }
  return units;
}

// Row r's layer in `layers` (by name), or a FileError naming the path.
LayerRecord& layer_of(std::vector<LayerRecord>& layers, const Tsv& t, size_t r,
                      const std::string& path) {
  for (LayerRecord& l : layers)
    if (l.name == t.rows[r][0]) return l;
  throw engine::FileError(path + ": line " + std::to_string(r + 2) + ": layer '" + t.rows[r][0] +
                          "' is not in layers.tsv");
}

std::vector<LayerRecord> read_layers(const std::string& out_dir) {
  const std::string path = file_in(out_dir, "layers.tsv");
  Tsv t = read_tsv(path, kLayerColumns);
  std::vector<LayerRecord> layers;
  for (size_t r = 0; r < t.rows.size(); ++r) {
    LayerRecord l;
    l.name = t.rows[r][0];
    l.unit = static_cast<int>(tsv_number(t, r, "unit", path));
    l.bits = static_cast<int>(tsv_number(t, r, "bits", path));
    l.weights = tsv_number(t, r, "weights", path);
    l.away_from_nearest = tsv_number(t, r, "away_from_nearest", path);
    layers.push_back(l);
  }
  const std::string steps_path = file_in(out_dir, "steps.tsv");
  Tsv steps = read_tsv(steps_path, kStepColumns);
  for (size_t r = 0; r < steps.rows.size(); ++r) {
    LayerRecord& l = layer_of(layers, steps, r, steps_path);
    l.initial_step.push_back(tsv_number(steps, r, "initial_step", steps_path));
    l.learned_step.push_back(tsv_number(steps, r, "learned_step", steps_path));
  }
  const std::string bits_path = file_in(out_dir, "soft_bits.tsv");
  Tsv bits = read_tsv(bits_path, kSoftBitColumns);
  for (size_t r = 0; r < bits.rows.size(); ++r)
    layer_of(layers, bits, r, bits_path)
        .soft_bit_histogram.push_back(tsv_number(bits, r, "count", bits_path));
  return layers;
}

}  // namespace

std::string trace_folder(const std::string& out_dir) { return out_dir + "/trace"; }

std::string distill_curve_path(const std::string& out_dir, const std::string& budget, int batch) {
  return file_in(out_dir, "distill_" + budget + "_batch" + std::to_string(batch) + ".tsv");
}

void write_run_info(const std::string& out_dir, const RunInfo& info) {
  std::filesystem::create_directories(trace_folder(out_dir));
  write_tsv(file_in(out_dir, "run.tsv"),
            {kRunColumns,
             {{"model", info.model.empty() ? "-" : info.model},
              {"data", info.data},
              {"budget", info.budget},
              {"distill_batches", std::to_string(info.distill_batches)},
              {"wbits", std::to_string(info.weight_bits)},
              {"abits", std::to_string(info.activation_bits)}}});
}

void write_results(const std::string& out_dir, const std::vector<ResultRow>& rows) {
  Tsv t{kResultColumns, {}};
  for (const ResultRow& r : rows)
    t.rows.push_back({r.method, r.bits, r.calibration, tsv_field(r.top1), tsv_field(r.drop),
                      tsv_field(r.seconds), tsv_field(r.megabytes)});
  write_tsv(file_in(out_dir, "results.tsv"), t);
}

void forget_results(const std::string& out_dir) {
  std::error_code ignored;  // absent is fine
  std::filesystem::remove(file_in(out_dir, "results.tsv"), ignored);
}

DistillRecorder::DistillRecorder(std::string out_dir, std::string budget)
    : out_dir_(std::move(out_dir)), budget_(std::move(budget)) {
  observer_.distill_step = [this](int batch, int iteration, float bns, float input) {
    if (!recorded(iteration)) return;
    DistillCurve& c = curves_[batch];
    c.iteration.push_back(iteration);
    c.bns_loss.push_back(bns);
    c.input_loss.push_back(input);
  };
  observer_.distill_batch_done = [this](int batch) {
    const DistillCurve& c = curves_[batch];
    Tsv t{kDistillColumns, {}};
    for (size_t i = 0; i < c.iteration.size(); ++i)
      t.rows.push_back(
          {tsv_field(c.iteration[i]), tsv_field(c.bns_loss[i]), tsv_field(c.input_loss[i])});
    std::filesystem::create_directories(trace_folder(out_dir_));
    write_tsv(distill_curve_path(out_dir_, budget_, batch), t);
    curves_.erase(batch);
  };
}

QuantizeRecorder::QuantizeRecorder() {
  observer_.reconstruct_step = [this](int unit, const std::string& stage, int iteration,
                                      float reconstruction, float rounding, float beta) {
    if (!recorded(iteration)) return;
    if (units_.empty() || units_.back().unit != unit || units_.back().stage != stage_field(stage))
      units_.push_back({unit, "", stage_field(stage), {}, {}, {}, {}});
    UnitCurve& u = units_.back();
    u.iteration.push_back(iteration);
    u.reconstruction.push_back(reconstruction);
    u.rounding.push_back(rounding);
    u.beta.push_back(beta);
  };
  observer_.unit_begin = [this](QuantizedResNet& q, int unit) { record_initial_steps(q, unit); };
  observer_.unit_learned = [this](QuantizedResNet& q, int unit) {
    for (UnitCurve& u : units_)
      if (u.unit == unit) u.unit_name = q.model().unit_name(unit);
    record_layers(q, unit);
  };
}

void QuantizeRecorder::record_initial_steps(QuantizedResNet& q, int unit) {
  for (QuantizedLayer* layer : q.unit_layers(unit)) {
    std::string name = layer_name(q, layer);
    if (!initial_steps_.count(name))
      initial_steps_[name] = as_doubles(layer->weight->step.values());
  }
}

// Reads the layers' state into host copies, under NoGrad: nothing joins the autograd graph.
void QuantizeRecorder::record_layers(QuantizedResNet& q, int unit) {
  engine::NoGrad no_grad;
  for (QuantizedLayer* layer : q.unit_layers(unit)) {
    const WeightQuantizer& w = *layer->weight;
    LayerRecord l;
    l.name = layer_name(q, layer);
    l.unit = unit;
    l.bits = w.bits();
    l.weights = static_cast<double>(w.soft_bits.numel());
    l.away_from_nearest = away_from_nearest(w, float_weight(q, l.name));
    l.initial_step = initial_steps_.at(l.name);
    l.learned_step = as_doubles(w.step.values());
    l.soft_bit_histogram = soft_bit_histogram(w);
    auto same = [&](const LayerRecord& r) { return r.name == l.name; };
    layers_.erase(std::remove_if(layers_.begin(), layers_.end(), same), layers_.end());
    layers_.push_back(std::move(l));
  }
}

void QuantizeRecorder::write(const std::string& out_dir) const {
  std::filesystem::create_directories(trace_folder(out_dir));
  Tsv units{kUnitColumns, {}}, layers{kLayerColumns, {}}, steps{kStepColumns, {}},
      bits{kSoftBitColumns, {}};
  for (const UnitCurve& u : units_)
    for (size_t i = 0; i < u.iteration.size(); ++i)
      units.rows.push_back({std::to_string(u.unit), u.unit_name, u.stage, tsv_field(u.iteration[i]),
                            tsv_field(u.reconstruction[i]), tsv_field(u.rounding[i]),
                            tsv_field(u.beta[i])});
  for (const LayerRecord& l : layers_) {
    layers.rows.push_back({l.name, std::to_string(l.unit), std::to_string(l.bits),
                           tsv_field(l.weights), tsv_field(l.away_from_nearest)});
    for (size_t k = 0; k < l.initial_step.size(); ++k)
      steps.rows.push_back(
          {l.name, std::to_string(k), tsv_field(l.initial_step[k]), tsv_field(l.learned_step[k])});
    for (size_t b = 0; b < l.soft_bit_histogram.size(); ++b)
      bits.rows.push_back({l.name, std::to_string(b), tsv_field(l.soft_bit_histogram[b])});
  }
  write_tsv(file_in(out_dir, "reconstruct.tsv"), units);
  write_tsv(file_in(out_dir, "layers.tsv"), layers);
  write_tsv(file_in(out_dir, "steps.tsv"), steps);
  write_tsv(file_in(out_dir, "soft_bits.tsv"), bits);
}

RunTrace read_run_trace(const std::string& out_dir) {
  RunTrace t;
  t.info = read_info(out_dir);
  t.results = read_results(out_dir);
  for (int b = 0; b < t.info.distill_batches; ++b)
    t.distill.push_back(read_distill_curve(distill_curve_path(out_dir, t.info.budget, b)));
  t.units = read_units(out_dir);
  t.layers = read_layers(out_dir);
  return t;
}

}  // namespace genie
