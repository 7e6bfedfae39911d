// `genie bench infer --model Q.gw`: inference speed of one quantized model three ways on the
// same batch: the float network (its dequantized weights, plain float layers), the
// fake-quantized simulation (`genie eval`) and the integer engine (`genie eval --engine int`),
// with the size of the file each needs. The last line ends with int_vs_float=R, the integer
// engine's images/s over the float network's.
//
// After one untimed pass of each (oneDNN compiles its kernels and every buffer is touched on the
// first), --iters rounds each time one pass of the three in turn, and each engine's speed is
// its median pass: on a shared machine a slow spell then hits all three alike or is outvoted.
#include <unistd.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <vector>

#include "engine/autograd.h"
#include "engine/threads.h"
#include "genie/integer_inference.h"
#include "genie/quantized_file.h"
#include "models/model_file.h"
#include "tools/cli/commands.h"

namespace cli {

namespace {

// Images per second of each pass, from its median time over `rounds` interleaved rounds.
std::vector<double> images_per_second(const std::vector<std::function<void()>>& passes, int batch,
                                      int rounds) {
  for (const auto& pass : passes) pass();
  std::vector<std::vector<double>> seconds(passes.size());
  for (int r = 0; r < rounds; ++r)
    for (size_t i = 0; i < passes.size(); ++i) {
      auto start = std::chrono::steady_clock::now();
      passes[i]();
      seconds[i].push_back(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
  std::vector<double> speed;
  for (std::vector<double>& s : seconds) {
    std::nth_element(s.begin(), s.begin() + s.size() / 2, s.end());
    speed.push_back(batch / s[s.size() / 2]);
  }
  return speed;
}

// The size of the float model's file, written once to a temporary file.
double float_file_megabytes(models::ResNet& model) {
  std::string path =
      (std::filesystem::temp_directory_path() / ("genie-bench-" + std::to_string(getpid()) + ".gw"))
          .string();
  engine::write_tensor_file(path, models::model_to_file(model));
  double bytes = static_cast<double>(std::filesystem::file_size(path));
  std::filesystem::remove(path);
  return bytes / 1e6;
}

}  // namespace

int bench_infer(int argc, char** argv) {
  cxxopts::Options options("genie bench infer",
                           "Time the float model, the simulation and the integer engine.");
  auto add = options.add_options();
  add("model", "quantized model file (.gw)", cxxopts::value<std::string>());
  add("batch", "images per pass", cxxopts::value<int>()->default_value("128"));
  add("iters", "timed rounds (one pass of each engine)", cxxopts::value<int>()->default_value("5"));
  add_threads_option(options);
  cxxopts::ParseResult args;
  if (!parse_or_help(options, argc, argv, args)) return 0;
  if (!args.count("model")) throw cxxopts::exceptions::parsing("--model Q.gw is required");
  int batch = flag_in_range(args, "batch", 1, kMaxImages);
  int iters = flag_in_range(args, "iters", 1, kMaxIterations);
  apply_threads(args);
  const std::string path = args["model"].as<std::string>();
  engine::TensorFile file = engine::read_tensor_file(path);
  if (!genie::is_quantized_file(file))
    throw engine::FileError(path + ": --model must be a quantized model (genie quantize)");
  genie::LoadedQuantizedModel q = genie::load_quantized(file, path);
  models::ResNet& model = *q.model;
  const models::ModelConfig& c = model.config();
  engine::Rng rng(0);
  engine::Tensor x = engine::randn({batch, c.in_channels, c.input_size, c.input_size}, rng);
  engine::NoGrad no_grad;
  models::ForwardHooks hooks = q.quantized->hooks(rng);
  genie::IntegerResNet net(*q.quantized);
  std::vector<double> speed = images_per_second(
      {[&] { model.forward(x); }, [&] { model.forward(x, hooks); }, [&] { net.forward(x); }}, batch,
      iters);
  const double fp = speed[0], sim = speed[1], integer = speed[2];
  double float_mb = float_file_megabytes(model);
  double quantized_mb = static_cast<double>(std::filesystem::file_size(path)) / 1e6;
  std::printf("engine  images_per_sec  file_MB\n");
  std::printf("float   %14.1f  %7.3f\n", fp, float_mb);
  std::printf("sim     %14.1f  %7.3f\n", sim, quantized_mb);
  std::printf("int     %14.1f  %7.3f\n", integer, quantized_mb);
  std::printf("infer arch=%s batch=%d threads=%d float=%.1f sim=%.1f int=%.1f int_vs_float=%.2f\n",
              c.arch.c_str(), batch, engine::threads(), fp, sim, integer, integer / fp);
  return 0;
}

}  // namespace cli
