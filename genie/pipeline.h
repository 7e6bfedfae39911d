// `genie run`, the main job: distill a calibration set with GENIE-D, quantize with round-to-
// nearest and with GENIE-M (optionally also on real images), evaluate each, and report a table
// plus one key=value line for scripts. Everything it makes is kept in `out_dir`; the distilled
// images resume from there when a run is killed. What the report page shows is recorded in
// out_dir/trace/ (genie/run_trace.h).
#pragma once

#include <string>
#include <vector>

#include "engine/device.h"
#include "genie/quantized_resnet.h"

namespace genie {

// How much work: images, distillation batch and iterations, reconstruction iterations.
struct Budget {
  std::string name;
  int images;
  int distill_batch;
  int distill_iters;
  int recon_iters;
};
// "smoke" (seconds), "demo" (minutes), "paper" (the paper's: 1024 images, 4000, 20000).
Budget budget_named(const std::string& name);

struct RunConfig {
  std::string model;                   // "" = the embedded default
  std::string data = "fashion-mnist";  // test set for accuracy; train split for --real
  int weight_bits = 4;
  int activation_bits = 4;
  SkipInput skip_input = SkipInput::quantized;  // what a parameter-free shortcut reads
  Budget budget = budget_named("demo");
  bool real_data = false;  // also calibrate GENIE-M on real training images
  std::string out_dir = "out";
  int64_t eval_limit = 0;  // evaluate on the first N test images (0: all)
  uint64_t seed = 0;
  engine::Device device = engine::Device::CPU;  // where the model runs; files stay on the host
  std::string report_dir;  // "": no page; else report_dir/index.html (genie/report_page.h)
};

// Every file the run writes in out_dir, so that they can be checked before the run starts.
std::vector<std::string> output_files(const RunConfig& config);

// Prints the table and the key=value line; returns 0.
int run_pipeline(const RunConfig& config);

}  // namespace genie
