// `genie train`: train a ResNet classifier from scratch (see models/train.h).
#include <iostream>

#include "models/train.h"
#include "tools/cli/commands.h"

namespace cli {

int train(int argc, char** argv) {
  cxxopts::Options options("genie train", "Train a ResNet from scratch.");
  options.add_options()
      ("arch", "resnet20/32/44/56", cxxopts::value<std::string>()->default_value("resnet20"))
      ("shortcut", "A or B", cxxopts::value<std::string>()->default_value("A"))
      ("data", "fashion-mnist[:DIR] or cifar10:DIR",
       cxxopts::value<std::string>()->default_value("fashion-mnist"))
      ("out", "the trained model file (.gw)", cxxopts::value<std::string>())
      ("epochs", "epochs", cxxopts::value<int>()->default_value("30"))
      ("batch", "batch size", cxxopts::value<int>()->default_value("128"))
      ("lr", "initial learning rate", cxxopts::value<float>()->default_value("0.1"))
      ("weight-decay", "L2 weight decay", cxxopts::value<float>()->default_value("0.0005"))
      ("limit", "train on the first N images only", cxxopts::value<int64_t>()->default_value("0"))
      ("seed", "random seed", cxxopts::value<uint64_t>()->default_value("0"))
      ("resume", "continue from OUT.ckpt")
      ("threads", "threads", cxxopts::value<int>()->default_value("0"));
  cxxopts::ParseResult args;
  if (!parse_or_help(options, argc, argv, args)) return 0;
  if (!args.count("out")) throw cxxopts::exceptions::parsing("--out is required");
  std::string shortcut = args["shortcut"].as<std::string>();
  if (shortcut != "A" && shortcut != "B")
    throw cxxopts::exceptions::parsing("--shortcut must be A or B");
  apply_threads(args["threads"].as<int>());
  models::TrainConfig c;
  c.arch = args["arch"].as<std::string>();
  c.shortcut = shortcut[0];
  c.data = args["data"].as<std::string>();
  c.out = args["out"].as<std::string>();
  c.epochs = args["epochs"].as<int>();
  c.batch = args["batch"].as<int>();
  c.lr = args["lr"].as<float>();
  c.weight_decay = args["weight-decay"].as<float>();
  c.limit = args["limit"].as<int64_t>();
  c.seed = args["seed"].as<uint64_t>();
  c.resume = args.count("resume") > 0;
  double top1 = models::train(c);
  std::cout << "top1=" << top1 << " out=" << c.out << "\n";
  return 0;
}

}  // namespace cli
