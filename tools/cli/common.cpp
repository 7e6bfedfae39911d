// Flag handling shared by the subcommands.
#include <iostream>

#include "engine/threads.h"
#include "tools/cli/commands.h"

namespace cli {

bool parse_or_help(cxxopts::Options& options, int argc, char** argv, cxxopts::ParseResult& out) {
  options.add_options()("h,help", "this help");
  out = options.parse(argc, argv);
  if (out.count("help")) {
    std::cout << options.help() << "\n";
    return false;
  }
  if (!out.unmatched().empty())
    throw cxxopts::exceptions::parsing("unexpected argument '" + out.unmatched()[0] + "'");
  return true;
}

void add_model_option(cxxopts::Options& options) {
  options.add_options()("model", "model file (.gw); default: the embedded ResNet-20",
                        cxxopts::value<std::string>()->default_value(""));
}

void add_threads_option(cxxopts::Options& options) {
  options.add_options()("threads", "threads (default: GENIE_THREADS or all cores)",
                        cxxopts::value<int>()->default_value("0"));
}

void apply_threads(const cxxopts::ParseResult& args) {
  engine::set_threads(engine::resolve_threads(args["threads"].as<int>()));
}

}  // namespace cli
