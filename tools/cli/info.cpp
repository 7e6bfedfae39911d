// `genie info`: what the engine runs on (threads, the OpenBLAS kernel), for bug reports and
// for spotting the slow generic OpenBLAS kernel.
#include <iostream>

#include "engine/device.h"
#include "engine/threads.h"
#include "tools/cli/commands.h"

namespace cli {

int info(int argc, char** argv) {
  cxxopts::Options options("genie info",
                           "Show the engine's threads, OpenBLAS kernel and devices, or what FILE "
                           "holds.");
  options.add_options()("file", "a model, quantized model or images file",
                        cxxopts::value<std::string>());
  options.parse_positional({"file"});
  add_threads_option(options);
  cxxopts::ParseResult args;
  if (!parse_or_help(options, argc, argv, args)) return 0;
  if (args.count("file")) return describe_file(args["file"].as<std::string>());
  apply_threads(args);
  std::cout << "threads=" << engine::threads() << " blas_core=" << engine::blas_core()
            << " onednn_isa=" << engine::onednn_isa() << "\n"
            << "blas_config=" << engine::blas_config() << "\n"
            << engine::describe_devices();
  return 0;
}

}  // namespace cli
