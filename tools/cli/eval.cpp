// `genie eval`: top-1 / top-5 accuracy of a model on a dataset.
#include <cstdint>
#include <cstdio>
#include <iostream>

#include "engine/dataset/dataset.h"
#include "genie/integer_inference.h"
#include "genie/quantized_file.h"
#include "models/evaluate.h"
#include "models/model_file.h"
#include "tools/cli/commands.h"

namespace cli {

namespace {

// A float model, or a quantized one evaluated through its fake-quantized layers.
struct LoadedModel {
  std::unique_ptr<models::ResNet> model;
  std::unique_ptr<genie::QuantizedResNet> quantized;
};

LoadedModel load_any_model(const std::string& path) {
  LoadedModel out;
  if (path.empty()) {
    out.model = std::make_unique<models::ResNet>(models::default_model());
    return out;
  }
  engine::TensorFile file = engine::read_tensor_file(path);
  if (genie::is_quantized_file(file)) {
    genie::LoadedQuantizedModel q = genie::load_quantized(file, path);
    out.model = std::move(q.model);
    out.quantized = std::move(q.quantized);
  } else {
    out.model = std::make_unique<models::ResNet>(models::model_from_file(file, path));
  }
  return out;
}

}  // namespace

int eval(int argc, char** argv) {
  cxxopts::Options options("genie eval", "Measure a model's accuracy on a dataset.");
  auto add = options.add_options();
  add_model_option(options);
  add("data", "fashion-mnist[:DIR], cifar10:DIR or folder:DIR",
      cxxopts::value<std::string>()->default_value("fashion-mnist"));
  add("batch", "batch size", cxxopts::value<int>()->default_value("200"));
  add("limit", "evaluate the first N images only", cxxopts::value<int64_t>()->default_value("0"));
  add("engine", "a quantized model: sim (fake-quantized floats) or int (integer arithmetic)",
      cxxopts::value<std::string>()->default_value("sim"));
  add_threads_option(options);
  add_device_option(options);
  cxxopts::ParseResult args;
  if (!parse_or_help(options, argc, argv, args)) return 0;
  int batch = flag_in_range(args, "batch", 1, kMaxImages);
  int64_t limit = flag_at_least(args, "limit", int64_t{0});
  const std::string arithmetic = args["engine"].as<std::string>();
  if (arithmetic != "sim" && arithmetic != "int")
    throw cxxopts::exceptions::parsing("--engine must be sim or int, got '" + arithmetic + "'");
  const bool integer = arithmetic == "int";
  if (integer && args.count("device") && args["device"].as<std::string>() != "cpu")
    throw cxxopts::exceptions::parsing("--engine int runs on the CPU: drop --device");
  apply_threads(args);
  // The integer engine is the CPU's (oneDNN); the simulation runs wherever --device says.
  engine::Device device = integer ? engine::Device::CPU : apply_device(args);
  LoadedModel loaded = load_any_model(args["model"].as<std::string>());
  if (loaded.quantized)
    loaded.quantized->to(device);  // its model too
  else
    loaded.model->to(device);
  const models::ModelConfig& mc = loaded.model->config();
  auto data = engine::open_dataset(args["data"].as<std::string>(), {mc.in_channels, mc.input_size},
                                   engine::Split::Test);
  engine::say_transform(*data);
  engine::Rng rng(0);  // QDrop is off in evaluation: nothing is drawn
  models::ForwardHooks hooks =
      loaded.quantized ? loaded.quantized->hooks(rng) : models::ForwardHooks{};
  if (integer && !loaded.quantized)
    throw cxxopts::exceptions::parsing("--engine int needs a quantized --model");
  models::Accuracy acc;
  if (integer) {
    genie::IntegerResNet net(*loaded.quantized);
    acc = genie::evaluate_integer(net, *loaded.model, *data, batch, limit);
  } else {
    acc = models::evaluate(*loaded.model, *data, batch, limit, hooks);
  }
  std::printf("top1=%.2f top5=%.2f n=%lld\n", acc.top1, acc.top5, static_cast<long long>(acc.n));
  return 0;
}

}  // namespace cli
