// `genie quantize`: GENIE-M (or a baseline) on distilled images or real data.
#include <cstdio>

#include "genie/calibration.h"
#include "genie/quantize.h"
#include "models/model_file.h"
#include "tools/cli/commands.h"

namespace cli {

void add_skip_input_option(cxxopts::Options& options) {
  options.add_options()(
      "skip-input",
      "what a parameter-free shortcut reads: quantized (the block's quantized input) or float",
      cxxopts::value<std::string>()->default_value("quantized"));
}

genie::SkipInput skip_input_flag(const cxxopts::ParseResult& args) {
  return parse_flag_value(
      [&] { return genie::parse_skip_input(args["skip-input"].as<std::string>()); });
}

void add_quant_options(cxxopts::Options& options) {
  add_skip_input_option(options);
  auto add = options.add_options();
  add("wbits", "weight bits", cxxopts::value<int>()->default_value("4"));
  add("abits", "activation bits", cxxopts::value<int>()->default_value("4"));
  add("method", "genie, qdrop, brecq, adaround or rtn",
      cxxopts::value<std::string>()->default_value("genie"));
  add("iters", "reconstruction iterations per unit", cxxopts::value<int>()->default_value("20000"));
  add("batch", "images per reconstruction step (0: N/32)",
      cxxopts::value<int>()->default_value("0"));
  add("first-last",
      "8: first and last layers at 8 bits (the reference); same: all at --wbits/--abits",
      cxxopts::value<std::string>()->default_value("8"));
  add("qdrop",
      "QDrop (genie, qdrop): probability that an activation takes its quantized value while "
      "learning",
      cxxopts::value<float>()->default_value("0.5"));
  add("round-weight", "weight of the rounding loss (default: the method's own)",
      cxxopts::value<float>());
  add("seed", "random seed", cxxopts::value<uint64_t>()->default_value("0"));
}

genie::QuantConfig quant_config(const cxxopts::ParseResult& args) {
  genie::QuantConfig c;
  c.method =
      parse_flag_value([&] { return genie::parse_quant_method(args["method"].as<std::string>()); });
  c.policy.weight_bits = flag_in_range(args, "wbits", 2, 8);
  c.policy.activation_bits = flag_in_range(args, "abits", 2, 8);
  std::string first_last = args["first-last"].as<std::string>();
  if (first_last != "8" && first_last != "same")
    throw cxxopts::exceptions::parsing("--first-last must be 8 or same");
  c.policy.first_last_8bit = first_last == "8";
  c.policy.skip_input = skip_input_flag(args);
  c.iters = flag_in_range(args, "iters", 0, kMaxIterations);
  c.batch = flag_in_range(args, "batch", 0, kMaxImages);
  c.p_quantized = flag_in_range(args, "qdrop", 0.0f, 1.0f);
  if (args.count("round-weight")) c.round_weight = flag_in_range(args, "round-weight", 0.0f, 1e6f);
  c.seed = args["seed"].as<uint64_t>();
  return c;
}

int quantize(int argc, char** argv) {
  cxxopts::Options options("genie quantize", "GENIE-M: quantize a model block by block.");
  auto add = options.add_options();
  add_model_option(options);
  add("calib", "distilled images (.gwt) or a dataset SPEC for real-data calibration",
      cxxopts::value<std::string>());
  add("num", "calibration images taken from a dataset SPEC",
      cxxopts::value<int>()->default_value("1024"));
  add("out", "the quantized model file (.gw); OUT.state holds the finished units meanwhile",
      cxxopts::value<std::string>());
  add("resume", "go on from OUT.state, left by a killed run with the same settings");
  add_quant_options(options);
  add_threads_option(options);
  add_device_option(options);
  cxxopts::ParseResult args;
  if (!parse_or_help(options, argc, argv, args)) return 0;
  for (const char* required : {"calib", "out"})
    if (!args.count(required))
      throw cxxopts::exceptions::parsing(std::string("--") + required + " is required");
  genie::QuantConfig c = quant_config(args);
  int num = flag_in_range(args, "num", 1, kMaxImages);
  std::string calib = args["calib"].as<std::string>(), out = args["out"].as<std::string>();
  check_outputs({{"--model", args["model"].as<std::string>()},
                 {"--calib", genie::is_images_file(calib) ? calib : dataset_path(calib)}},
                {{"--out", out}});
  apply_threads(args);
  engine::Device device = apply_device(args);
  models::ResNet model = models::load_model_or_default(args["model"].as<std::string>());
  model.to(device);
  engine::Tensor calibration = genie::load_calibration(model, calib, num, c.seed);
  c.resume = args.count("resume") > 0;
  genie::quantize_to_file(model, calibration, c, out);
  std::printf("quantized=%s method=%s wbits=%d abits=%d calibration_images=%d\n", out.c_str(),
              genie::method_name(c.method).c_str(), c.policy.weight_bits, c.policy.activation_bits,
              calibration.size(0));
  return 0;
}

}  // namespace cli
