// `genie distill`: GENIE-D, a calibration set from a network's BatchNorm statistics.
#include <cstdio>

#include "genie/contact_sheet.h"
#include "genie/distill.h"
#include "genie/images_file.h"
#include "models/model_file.h"
#include "tools/cli/commands.h"

namespace cli {

namespace {

// --shard i/n into `c`, after --num and --batch: a usage error unless 0 <= i < n and every shard
// has a batch to make.
void apply_shard(const std::string& text, genie::DistillConfig& c) {
  int batches = (c.num_images + c.batch - 1) / c.batch;
  if (!genie::parse_shard(text, c.shard, c.shards))
    throw cxxopts::exceptions::parsing("--shard must be i/n with 0 <= i < n, got '" + text + "'");
  if (c.shards > batches)
    throw cxxopts::exceptions::parsing("--shard " + text + ": the run has only " +
                                       std::to_string(batches) + " batches of --batch " +
                                       std::to_string(c.batch) + ", so n must be at most " +
                                       std::to_string(batches));
}

}  // namespace

int distill(int argc, char** argv) {
  cxxopts::Options options("genie distill",
                           "GENIE-D: distill images from a network's BatchNorm statistics.");
  auto add = options.add_options();
  add_model_option(options);
  add("out", "the images file (.gwt), rewritten after every batch", cxxopts::value<std::string>());
  add("num", "images to make", cxxopts::value<int>()->default_value("1024"));
  add("batch", "images per distillation batch", cxxopts::value<int>()->default_value("128"));
  add("iters", "iterations per batch", cxxopts::value<int>()->default_value("4000"));
  add("method", "genie, zeroq, latent, generator or noise",
      cxxopts::value<std::string>()->default_value("genie"));
  add("swing", "swing convolution: on or off", cxxopts::value<std::string>()->default_value("on"));
  add("seed", "random seed", cxxopts::value<uint64_t>()->default_value("0"));
  add("png", "also write a contact sheet of the images", cxxopts::value<std::string>());
  add("resume", "keep the finished batches in --out and go on");
  add("shard", "i/n: make only the batches b with b % n == i (join the parts with genie merge)",
      cxxopts::value<std::string>()->default_value("0/1"));
  add_threads_option(options);
  add_device_option(options);
  cxxopts::ParseResult args;
  if (!parse_or_help(options, argc, argv, args)) return 0;
  if (!args.count("out")) throw cxxopts::exceptions::parsing("--out is required");
  std::string swing = args["swing"].as<std::string>();
  if (swing != "on" && swing != "off")
    throw cxxopts::exceptions::parsing("--swing must be on or off");
  apply_threads(args);
  engine::Device device = apply_device(args);
  genie::DistillConfig c;
  c.method = parse_flag_value(
      [&] { return genie::parse_distill_method(args["method"].as<std::string>()); });
  c.swing = swing == "on";
  c.num_images = flag_in_range(args, "num", 1, kMaxImages);
  // BN statistics need two images; noise computes none.
  c.batch =
      flag_in_range(args, "batch", c.method == genie::DistillMethod::Noise ? 1 : 2, kMaxImages);
  c.iters = flag_in_range(args, "iters", 0, kMaxIterations);
  c.seed = args["seed"].as<uint64_t>();
  c.out = args["out"].as<std::string>();
  c.resume = args.count("resume") > 0;
  apply_shard(args["shard"].as<std::string>(), c);
  std::vector<PathFlag> outputs{{"--out", c.out}};
  if (args.count("png")) outputs.push_back({"--png", args["png"].as<std::string>()});
  check_outputs({{"--model", args["model"].as<std::string>()}}, outputs);
  models::ResNet model = models::load_model_or_default(args["model"].as<std::string>());
  model.to(device);
  genie::DistillResult r = genie::distill(model, c);
  if (args.count("png"))
    genie::write_contact_sheet(args["png"].as<std::string>(), r.images, model.config().mean,
                               model.config().std);
  std::printf("bns_loss_first=%.6g bns_loss_last=%.6g images=%d seconds=%.1f\n", r.bns_loss_first,
              r.bns_loss_last, r.images.size(0), r.seconds);
  return 0;
}

}  // namespace cli
