// `genie bench`: the two hot loops of GENIE and the training step, timed on a random-weight
// network, printed in the format of the PyTorch side (tools/torch_reference.py) so that
// `make bench` can set them side by side as ratios measured in one run.
//
//   distill  one GENIE-D iteration: generator -> frozen network with swing convs -> BN
//            statistics loss -> backward -> the two Adam steps;
//   recon    one GENIE-M iteration on the first stride-2 block: W4A4 soft bits, learned steps,
//            QDrop, drawn from 1024 cached block inputs;
//   train    one step of `genie train`'s recipe (models::train_step): a batch loaded from 1024
//            synthetic images, augmented, normalised, forward, cross-entropy, backward, SGD.
//
// Each time is (T(1 + iters) - T(1)) / iters: the difference removes each run's setup (a fresh
// generator and latents, fresh optimisers) and the first, cold iteration. The GENIE-M caches, the
// quantizers' initialisation and the synthetic training images are made once, before either run.
// Each line ends with the process's peak RSS, as the PyTorch side's does.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <stdexcept>

#include "engine/autograd.h"
#include "engine/dataset/dataset.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "engine/threads.h"
#include "genie/distill.h"
#include "genie/reconstruct.h"
#include "models/train.h"
#include "tools/cli/commands.h"

namespace cli {

using engine::Tensor;

namespace {

double seconds(const std::function<void()>& f) {
  auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Seconds per iteration of run(iters), setup and first iteration excluded.
double per_iteration(const std::function<void(int)>& run, int iters) {
  double once = seconds([&] { run(1); });
  double per = (seconds([&] { run(1 + iters); }) - once) / iters;
  if (per <= 0) throw std::runtime_error("the timing noise exceeds the timed work: raise --iters");
  return per;
}

double distill_iteration(models::ResNet& model, int batch, int iters) {
  genie::DistillConfig c;
  c.num_images = c.batch = batch;
  c.progress = false;
  return per_iteration(
      [&](int n) {
        c.iters = n;
        genie::distill(model, c);
      },
      iters);
}

int first_strided_block(models::ResNet& model) {
  std::vector<models::Block>& blocks = model.blocks();
  for (size_t b = 0; b < blocks.size(); ++b)
    for (const models::Conv2d& conv : blocks[b].convs)
      if (conv.stride != 1) return static_cast<int>(b) + 1;  // unit 0 is the stem
  throw std::invalid_argument("the network has no stride-2 block");
}

double recon_iteration(models::ResNet& model, int batch, int iters) {
  model.set_trainable(false);
  const int unit = first_strided_block(model);
  engine::Rng rng(1);
  auto block_input = [&](int n) {
    engine::NoGrad no_grad;
    const models::ModelConfig& m = model.config();
    Tensor x = engine::randn({n, m.in_channels, m.input_size, m.input_size}, rng, 0.0f, 1.0f,
                             model.device());
    for (int u = 0; u < unit; ++u) x = model.forward_unit(u, x);
    return x;
  };
  Tensor x = block_input(1024), x_init = block_input(32);
  Tensor y;
  {
    engine::NoGrad no_grad;
    y = model.forward_unit(unit, x);
  }
  genie::QuantizedResNet q(model, genie::QuantPolicy{});
  genie::ReconstructConfig c;
  c.batch = batch;
  c.progress = false;
  q.set_unit_mode(unit, {true, c.p_quantized_input});  // GENIE-M's: soft bits, QDrop
  q.initialize_activations(x_init, rng, unit);
  return per_iteration(
      [&](int n) {
        c.iters = n;
        genie::reconstruct_unit(q, unit, x, x, y, c, rng);
      },
      iters);
}

// Random pixels and labels standing in for a training set, so that the timed step loads its
// batch from bytes as training does from CIFAR-10, without a dataset's files.
std::unique_ptr<engine::Dataset> synthetic_images(const models::ModelConfig& m, int count,
                                                  engine::Rng& rng) {
  engine::RawImages raw;
  raw.channels = m.in_channels;
  raw.height = raw.width = m.input_size;
  raw.num_classes = m.num_classes;
  raw.directory = "random";
  raw.pixels.resize(static_cast<size_t>(count) * m.in_channels * m.input_size * m.input_size);
  for (uint8_t& p : raw.pixels) p = static_cast<uint8_t>(rng.integer(256));
  for (int i = 0; i < count; ++i) raw.labels.push_back(rng.integer(m.num_classes));
  return engine::in_memory_dataset("synthetic", std::move(raw), {m.in_channels, m.input_size});
}

// The synthetic training set's size (at least a batch); torch_reference.py's is the same.
constexpr int kSyntheticImages = 1024;

double train_iteration(models::ResNet& model, int batch, int iters) {
  models::TrainConfig c;  // the recipe's hyperparameters and augmentation
  engine::Rng rng(1);
  auto data = synthetic_images(model.config(), std::max(batch, kSyntheticImages), rng);
  model.set_trainable(true);
  return per_iteration(
      [&](int n) {
        engine::Sgd opt = models::recipe_optimizer(model, c);
        std::vector<int64_t> idx(batch);
        for (int i = 0; i < n; ++i) {
          for (int64_t& k : idx) k = rng.integer(static_cast<int>(data->size()));
          engine::Batch b = data->load(idx);
          models::train_step(model, b, c, opt, rng).loss.item();  // waits for a GPU's step
        }
      },
      iters);
}

// ru_maxrss is in kilobytes on Linux; MB as torch_reference.py prints them.
double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1e3;
}

double iteration_seconds(const std::string& mode, models::ResNet& model, int batch, int iters) {
  if (mode == "distill") return distill_iteration(model, batch, iters);
  if (mode == "recon") return recon_iteration(model, batch, iters);
  return train_iteration(model, batch, iters);
}

}  // namespace

int bench(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "infer") return bench_infer(argc - 1, argv + 1);
  cxxopts::Options options("genie bench",
                           "Time one GENIE-D, GENIE-M or training iteration on a random-weight "
                           "network.");
  auto add = options.add_options();
  add("mode", "distill, recon or train (or infer, see genie bench infer --help)",
      cxxopts::value<std::string>());
  add("arch", "resnet20/32/44/56 or resnet18/34/50",
      cxxopts::value<std::string>()->default_value("resnet20"));
  add("batch", "images per iteration", cxxopts::value<int>()->default_value("128"));
  add("channels", "input channels", cxxopts::value<int>()->default_value("3"));
  add("size", "input size (default: 32 for CIFAR ResNets, 224 otherwise)", cxxopts::value<int>());
  add("iters", "timed iterations", cxxopts::value<int>()->default_value("5"));
  add_threads_option(options);
  add_device_option(options);
  options.parse_positional({"mode"});
  cxxopts::ParseResult args;
  if (!parse_or_help(options, argc, argv, args)) return 0;
  std::string mode = args.count("mode") ? args["mode"].as<std::string>() : "";
  if (mode != "distill" && mode != "recon" && mode != "train")
    throw cxxopts::exceptions::parsing("the mode must be distill, recon, train or infer");
  int batch = flag_in_range(args, "batch", 2, kMaxImages);
  int iters = flag_in_range(args, "iters", 1, kMaxIterations);
  models::ModelConfig config;
  config.arch = args["arch"].as<std::string>();
  bool cifar = parse_flag_value([&] { return models::is_cifar_arch(config.arch); });
  config.in_channels = flag_in_range(args, "channels", 1, 3);
  config.input_size = args.count("size") ? flag_in_range(args, "size", 4, 1024) : cifar ? 32 : 224;
  config.mean.assign(config.in_channels, 0.5f);
  config.std.assign(config.in_channels, 0.25f);
  if (!cifar) config.num_classes = 1000;
  parse_flag_value([&] { models::validate(config); });
  apply_threads(args);
  engine::Device device = apply_device(args);
  models::ResNet model(config, 0);
  model.to(device);
  double sec = iteration_seconds(mode, model, batch, iters);
  std::printf(
      "%s arch=%s batch=%d device=%s threads=%d sec_per_iter=%.4f images_per_sec=%.1f "
      "peak_rss_mb=%.1f",
      mode.c_str(), config.arch.c_str(), batch, engine::device_name(device), engine::threads(), sec,
      batch / sec, peak_rss_mb());
  if (device == engine::Device::CUDA) std::printf(" peak_gpu_mb=%.1f", engine::peak_device_mb());
  std::printf("\n");
  return 0;
}

}  // namespace cli
