// `genie run`: the main job (see genie/pipeline.h).
#include "genie/pipeline.h"
#include "genie/quantized_resnet.h"
#include "tools/cli/commands.h"

namespace cli {

int run(int argc, char** argv) {
  cxxopts::Options options("genie run",
                           "Distill, quantize with RTN and GENIE, evaluate, and compare.");
  auto add = options.add_options();
  add_model_option(options);
  add("data", "test data SPEC (and real calibration data with --real)",
      cxxopts::value<std::string>()->default_value("fashion-mnist"));
  add("wbits", "weight bits", cxxopts::value<int>()->default_value("4"));
  add("abits", "activation bits", cxxopts::value<int>()->default_value("4"));
  add("budget", "smoke, demo or paper", cxxopts::value<std::string>()->default_value("demo"));
  add("real", "also calibrate on real training images");
  add("out", "folder for what the run makes", cxxopts::value<std::string>()->default_value("out"));
  add("limit", "evaluate on the first N test images only",
      cxxopts::value<int64_t>()->default_value("0"));
  add("seed", "random seed", cxxopts::value<uint64_t>()->default_value("0"));
  add("report", "also write DIR/index.html, a page about the run (genie report)",
      cxxopts::value<std::string>());
  add_skip_input_option(options);
  add_threads_option(options);
  add_device_option(options);
  cxxopts::ParseResult args;
  if (!parse_or_help(options, argc, argv, args)) return 0;
  genie::RunConfig c;
  c.model = args["model"].as<std::string>();
  c.data = args["data"].as<std::string>();
  c.weight_bits = flag_in_range(args, "wbits", 2, 8);
  c.activation_bits = flag_in_range(args, "abits", 2, 8);
  c.skip_input = skip_input_flag(args);
  c.budget =
      parse_flag_value([&] { return genie::budget_named(args["budget"].as<std::string>()); });
  c.real_data = args.count("real") > 0;
  c.out_dir = args["out"].as<std::string>();
  c.eval_limit = flag_at_least(args, "limit", int64_t{0});
  c.seed = args["seed"].as<uint64_t>();
  c.device = apply_device(args);  // before the --out folder is made: a refusal leaves no trace
  prepare_output_folder({"--out", c.out_dir});
  std::vector<PathFlag> outputs;
  for (const std::string& file : genie::output_files(c)) outputs.push_back({"--out", file});
  if (args.count("report")) {
    c.report_dir = args["report"].as<std::string>();
    prepare_output_folder({"--report", c.report_dir});
    outputs.push_back({"--report", c.report_dir + "/index.html"});
  }
  check_outputs({{"--model", c.model}, {"--data", dataset_path(c.data)}}, outputs);
  apply_threads(args);
  return genie::run_pipeline(c);
}

}  // namespace cli
