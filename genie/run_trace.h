// What `genie run` records for its report, and reading it back (`genie report`): plain TSV
// files in OUT_DIR/trace/, described in data/FORMAT.md ("Run trace").
//
// Curves are sparse enough for the paper's budget: every iteration up to kDenseIterations,
// then every kSparseEvery-th. Every file is written whole and atomically; the distillation's
// curves are one file per batch, written when the batch finishes and before the images file
// records it, so that a resumed distillation finds the curves of the batches it keeps.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "genie/observer.h"

namespace genie {

constexpr int kDenseIterations = 2000, kSparseEvery = 10;
constexpr int kSoftBitBins = 20;  // the histogram of h(V) over [0, 1]

// The run's settings the report needs.
struct RunInfo {
  std::string model;  // "" = the embedded default
  std::string data;
  std::string budget;
  int distill_batches = 0;
  int weight_bits = 0, activation_bits = 0;
};

// One row of the table `genie run` prints.
struct ResultRow {
  std::string method, bits, calibration;
  double top1, drop, seconds, megabytes;
};

struct DistillCurve {  // one batch
  std::vector<double> iteration, bns_loss, input_loss;
};

struct UnitCurve {  // one unit in one stage
  int unit = 0;
  std::string unit_name, stage;
  std::vector<double> iteration, reconstruction, rounding, beta;
};

// One quantized layer just before hardening.
struct LayerRecord {
  std::string name;
  int unit = 0, bits = 0;
  double weights = 0;
  double away_from_nearest = 0;  // share of final codes other than round-to-nearest's
  std::vector<double> initial_step, learned_step;  // per output channel
  std::vector<double> soft_bit_histogram;          // kSoftBitBins counts of h(V)
};

struct RunTrace {
  RunInfo info;
  std::vector<ResultRow> results;
  std::vector<DistillCurve> distill;  // per batch
  std::vector<UnitCurve> units;
  std::vector<LayerRecord> layers;
};

// The trace folder of a `genie run --out` folder, and the files in it.
std::string trace_folder(const std::string& out_dir);
std::string distill_curve_path(const std::string& out_dir, const std::string& budget, int batch);

// Writes run.tsv / results.tsv.
void write_run_info(const std::string& out_dir, const RunInfo& info);
void write_results(const std::string& out_dir, const std::vector<ResultRow>& rows);
// Removes results.tsv, so that a report on a run killed before its end finds no stale table.
void forget_results(const std::string& out_dir);

// Records GENIE-D's curves, one file per finished batch.
class DistillRecorder {
 public:
  DistillRecorder(std::string out_dir, std::string budget);
  const Observer& observer() const { return observer_; }

 private:
  std::string out_dir_, budget_;
  std::map<int, DistillCurve> curves_;
  Observer observer_;
};

// Records GENIE-M's curves and layers; write() puts them in the trace folder.
class QuantizeRecorder {
 public:
  QuantizeRecorder();
  const Observer& observer() const { return observer_; }
  void write(const std::string& out_dir) const;

 private:
  void record_initial_steps(QuantizedResNet& q, int unit);
  void record_layers(QuantizedResNet& q, int unit);

  std::vector<UnitCurve> units_;
  std::map<std::string, std::vector<double>> initial_steps_;
  std::vector<LayerRecord> layers_;
  Observer observer_;
};

// Everything recorded in `out_dir`; throws engine::FileError naming the first missing or
// malformed file.
RunTrace read_run_trace(const std::string& out_dir);

}  // namespace genie
