// `genie train`: train a ResNet classifier from scratch (see models/train.h).
#include <cstdint>
#include <iostream>

#include "models/train.h"
#include "tools/cli/commands.h"

namespace cli {

int train(int argc, char** argv) {
  cxxopts::Options options("genie train", "Train a ResNet from scratch.");
  auto add = options.add_options();
  add("arch", "resnet20/32/44/56", cxxopts::value<std::string>()->default_value("resnet20"));
  add("shortcut", "A or B", cxxopts::value<std::string>()->default_value("A"));
  add("data", "fashion-mnist[:DIR] or cifar10:DIR",
      cxxopts::value<std::string>()->default_value("fashion-mnist"));
  add("out", "the trained model file (.gw)", cxxopts::value<std::string>());
  add("epochs", "epochs", cxxopts::value<int>()->default_value("30"));
  add("batch", "batch size", cxxopts::value<int>()->default_value("128"));
  add("lr", "initial learning rate", cxxopts::value<float>()->default_value("0.1"));
  add("weight-decay", "L2 weight decay", cxxopts::value<float>()->default_value("0.0005"));
  add("limit", "train on the first N images only", cxxopts::value<int64_t>()->default_value("0"));
  add("seed", "random seed", cxxopts::value<uint64_t>()->default_value("0"));
  add("resume", "continue from OUT.ckpt");
  add_threads_option(options);
  add_device_option(options);
  cxxopts::ParseResult args;
  if (!parse_or_help(options, argc, argv, args)) return 0;
  if (!args.count("out")) throw cxxopts::exceptions::parsing("--out is required");
  std::string shortcut = args["shortcut"].as<std::string>();
  if (shortcut != "A" && shortcut != "B")
    throw cxxopts::exceptions::parsing("--shortcut must be A or B");
  models::TrainConfig c;
  c.arch = args["arch"].as<std::string>();
  c.shortcut = shortcut[0];
  c.data = args["data"].as<std::string>();
  parse_flag_value(
      [&] { models::validate(models::config_for_dataset(c.arch, c.shortcut, c.data, 10)); });
  c.out = args["out"].as<std::string>();
  c.epochs = flag_in_range(args, "epochs", 1, kMaxIterations);
  c.batch = flag_in_range(args, "batch", 1, kMaxImages);
  c.lr = flag_in_range(args, "lr", 0.0f, 100.0f);
  c.weight_decay = flag_in_range(args, "weight-decay", 0.0f, 1.0f);
  c.limit = flag_at_least(args, "limit", int64_t{0});
  c.seed = args["seed"].as<uint64_t>();
  c.resume = args.count("resume") > 0;
  check_outputs({{"--data", dataset_path(c.data)}},
                {{"--out", c.out}, {"--out's checkpoint", models::checkpoint_path(c)}});
  apply_threads(args);
  c.device = apply_device(args);
  double top1 = models::train(c);
  std::cout << "top1=" << top1 << " out=" << c.out << "\n";
  return 0;
}

}  // namespace cli
