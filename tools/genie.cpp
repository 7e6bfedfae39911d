// genie: the command-line entry point. Picks the subcommand and hands it the rest of argv.
//
//   genie <command> [flags]      genie <command> --help
#include <cstring>
#include <cxxopts.hpp>
#include <exception>
#include <iostream>
#include <string>

#include "engine/tensor_file.h"
#include "engine/threads.h"
#include "tools/cli/commands.h"

namespace {

constexpr const char* kVersion = "genie.cpp 0.1";

const cli::Command kCommands[] = {
    {"run", "the main job: distill, quantize (RTN and GENIE), evaluate, compare", cli::run},
    {"eval", "measure a model's top-1/top-5 accuracy on a dataset", cli::eval},
    {"distill", "GENIE-D: distill calibration images from BatchNorm statistics", cli::distill},
    {"merge", "join the parts of a sharded distillation (OUT.gwt PART...)", cli::merge},
    {"quantize", "GENIE-M: quantize a model block by block (or RTN, AdaRound, BRECQ, QDrop)",
     cli::quantize},
    {"train", "train a ResNet from scratch (how the default model was made)", cli::train},
    {"bench", "time one GENIE-D or GENIE-M iteration (make bench compares with PyTorch)",
     cli::bench},
    {"export", "write a quantized model as a QDQ ONNX file", cli::export_model},
    {"report", "write the page about an earlier `genie run` (OUT_DIR DIR)", cli::report},
    {"info", "show threads and the OpenBLAS kernel in use", cli::info},
};

void usage(std::ostream& out) {
  out << "usage: genie <command> [flags]   (genie <command> --help for its flags)\n\ncommands:\n";
  for (const cli::Command& c : kCommands)
    out << "  " << c.name << std::string(12 - std::strlen(c.name), ' ') << c.summary << "\n";
  out << "\n  --help       this list\n  --version    version and OpenBLAS kernel\n";
}

int dispatch(int argc, char** argv) {
  if (argc < 2) {
    usage(std::cerr);
    return 2;
  }
  std::string name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    usage(std::cout);
    return 0;
  }
  if (name == "--version") {
    std::cout << kVersion << " (OpenBLAS core " << engine::blas_core() << ")\n";
    return 0;
  }
  for (const cli::Command& c : kCommands)
    if (name == c.name) return c.run(argc - 1, argv + 1);
  std::cerr << "genie: unknown command '" << name << "'\n\n";
  usage(std::cerr);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  engine::tune_runtime_environment(argv);
  try {
    return dispatch(argc, argv);
  } catch (const cxxopts::exceptions::exception& e) {
    std::cerr << "genie " << argv[1] << ": " << e.what() << " (see genie " << argv[1]
              << " --help)\n";
    return 2;
  } catch (const engine::FileError& e) {
    std::cerr << "genie: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "genie: error: " << e.what() << "\n";
    return 1;
  }
}
