// The main job; see pipeline.h.
#include "genie/pipeline.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <vector>

#include "engine/dataset/dataset.h"
#include "engine/threads.h"
#include "genie/calibration.h"
#include "genie/distill.h"
#include "genie/quantize.h"
#include "genie/report_page.h"
#include "genie/run_trace.h"
#include "models/evaluate.h"
#include "models/model_file.h"

namespace genie {

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string bits_name(const RunConfig& c) {
  return "W" + std::to_string(c.weight_bits) + "A" + std::to_string(c.activation_bits);
}

std::string fp32_path(const RunConfig& c) { return c.out_dir + "/fp32.gw"; }

std::string distilled_path(const RunConfig& c) {
  return c.out_dir + "/distilled_" + c.budget.name + ".gwt";
}

std::string quantized_path(const RunConfig& c, QuantMethod method,
                           const std::string& calibration_name) {
  // The float skip's files beside the default's, so that a folder can hold both to compare.
  std::string skip = c.skip_input == SkipInput::quantized ? "" : "_skip-float";
  return c.out_dir + "/" + method_name(method) + "_" + calibration_name + "_" + bits_name(c) +
         skip + ".gw";
}

// Quantizes with `method` on `calibration`, saves to out_dir, evaluates; one table row (its
// drop filled in later). `observer` (may be null) watches the quantization.
ResultRow quantize_and_evaluate(models::ResNet& model, const Tensor& calibration,
                                QuantMethod method, const std::string& calibration_name,
                                const RunConfig& c, const engine::Dataset& test,
                                const Observer* observer = nullptr) {
  auto start = std::chrono::steady_clock::now();
  QuantConfig q;
  q.method = method;
  q.policy.weight_bits = c.weight_bits;
  q.policy.activation_bits = c.activation_bits;
  q.policy.skip_input = c.skip_input;
  q.iters = c.budget.recon_iters;
  q.seed = c.seed;
  std::string path = quantized_path(c, method, calibration_name);
  q.resume = true;  // a killed run goes on from its last finished unit
  q.observer = observer;
  std::fprintf(stderr, "== quantizing with %s on %s\n", method_name(method).c_str(),
               calibration_name.c_str());
  auto quantized = quantize_to_file(model, calibration, q, path);
  double seconds = seconds_since(start);
  engine::Rng rng(0);
  double top1 = models::evaluate(model, test, 200, c.eval_limit, quantized->hooks(rng)).top1;
  return {method_name(method),
          bits_name(c),
          calibration_name,
          top1,
          0.0,
          seconds,
          std::filesystem::file_size(path) / 1e6};
}

void print_table(const std::vector<ResultRow>& rows) {
  std::printf("\n%-8s %-6s %-14s %7s %7s %9s %9s\n", "method", "bits", "calibration", "top1",
              "drop", "seconds", "size_MB");
  for (const ResultRow& r : rows)
    std::printf("%-8s %-6s %-14s %7.2f %7.2f %9.1f %9.3f\n", r.method.c_str(), r.bits.c_str(),
                r.calibration.c_str(), r.top1, r.drop, r.seconds, r.megabytes);
}

}  // namespace

Budget budget_named(const std::string& name) {
  if (name == "smoke") return {name, 64, 32, 50, 100};
  if (name == "demo") return {name, 256, 128, 200, 1500};
  if (name == "paper") return {name, 1024, 128, 4000, 20000};
  throw std::invalid_argument("--budget must be smoke, demo or paper, got '" + name + "'");
}

std::vector<std::string> output_files(const RunConfig& c) {
  std::vector<std::string> files{fp32_path(c), distilled_path(c),
                                 quantized_path(c, QuantMethod::Rtn, "genie-d"),
                                 quantized_path(c, QuantMethod::Genie, "genie-d")};
  if (c.real_data) files.push_back(quantized_path(c, QuantMethod::Genie, "real"));
  return files;
}

int run_pipeline(const RunConfig& c) {
  auto start = std::chrono::steady_clock::now();
  // Results are bit-reproducible for the same seed, threads, OpenBLAS kernel and oneDNN
  // instruction set; say which.
  std::fprintf(stderr, "== genie run: seed=%llu device=%s threads=%d blas_core=%s onednn_isa=%s\n",
               static_cast<unsigned long long>(c.seed), engine::device_name(c.device),
               engine::threads(), engine::blas_core().c_str(), engine::onednn_isa().c_str());
  std::filesystem::create_directories(c.out_dir);
  forget_results(c.out_dir);
  models::ResNet model = models::load_model_or_default(c.model);
  model.to(c.device);
  const models::ModelConfig& mc = model.config();
  auto test = engine::open_dataset(c.data, {mc.in_channels, mc.input_size}, engine::Split::Test);
  engine::say_transform(*test);
  models::save_model(fp32_path(c), model);
  std::fprintf(stderr, "== FP32 %s on %s\n", mc.arch.c_str(), test->describe().c_str());
  double fp32 = models::evaluate(model, *test, 200, c.eval_limit).top1;
  std::vector<ResultRow> rows{
      {"fp32", "W32A32", "-", fp32, 0.0, 0.0, std::filesystem::file_size(fp32_path(c)) / 1e6}};

  DistillConfig d;
  d.num_images = c.budget.images;
  d.batch = c.budget.distill_batch;
  d.iters = c.budget.distill_iters;
  d.seed = c.seed;
  d.out = distilled_path(c);
  d.resume = true;
  write_run_info(c.out_dir, {c.model, c.data, c.budget.name, (d.num_images + d.batch - 1) / d.batch,
                             c.weight_bits, c.activation_bits});
  DistillRecorder distill_recorder(c.out_dir, c.budget.name);
  d.observer = &distill_recorder.observer();
  std::fprintf(stderr, "== GENIE-D: %d images, %d iterations per batch of %d -> %s\n", d.num_images,
               d.iters, d.batch, d.out.c_str());
  DistillResult distilled = distill(model, d);
  std::fprintf(stderr, "bns_loss_first=%.4g bns_loss_last=%.4g seconds=%.1f\n",
               distilled.bns_loss_first, distilled.bns_loss_last, distilled.seconds);

  rows.push_back(
      quantize_and_evaluate(model, distilled.images, QuantMethod::Rtn, "genie-d", c, *test));
  QuantizeRecorder genie_recorder;
  rows.push_back(quantize_and_evaluate(model, distilled.images, QuantMethod::Genie, "genie-d", c,
                                       *test, &genie_recorder.observer()));
  rows.back().seconds += distilled.seconds;
  genie_recorder.write(c.out_dir);
  if (c.real_data) {
    Tensor real = load_calibration(model, c.data, c.budget.images, c.seed);
    rows.push_back(quantize_and_evaluate(model, real, QuantMethod::Genie, "real", c, *test));
  }
  for (ResultRow& r : rows) r.drop = fp32 - r.top1;
  print_table(rows);
  std::printf("fp32_top1=%.2f rtn_top1=%.2f genie_top1=%.2f", fp32, rows[1].top1, rows[2].top1);
  if (c.real_data) std::printf(" real_top1=%.2f", rows[3].top1);
  std::printf(" wbits=%d abits=%d skip_input=%s budget=%s images=%d seconds=%.0f\n", c.weight_bits,
              c.activation_bits, skip_input_name(c.skip_input).c_str(), c.budget.name.c_str(),
              c.budget.images, seconds_since(start));
  write_results(c.out_dir, rows);
  if (!c.report_dir.empty()) {
    write_report(c.out_dir, c.report_dir);
    std::fprintf(stderr, "== report: %s/index.html\n", c.report_dir.c_str());
  }
  return 0;
}

}  // namespace genie
