// The subcommands of the genie CLI. Each parses its own flags into a config struct and calls
// one library function; each returns the process exit code (0 ok, 1 failure, 2 usage error).
#pragma once

#include <cmath>
#include <cxxopts.hpp>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/device.h"

namespace genie {
enum class SkipInput;  // genie/quantized_resnet.h
}

namespace cli {

struct Command {
  const char* name;
  const char* summary;
  int (*run)(int argc, char** argv);  // argv[0] is the subcommand name
};

int info(int argc, char** argv);
int eval(int argc, char** argv);
int train(int argc, char** argv);
int distill(int argc, char** argv);
int merge(int argc, char** argv);
int quantize(int argc, char** argv);
int run(int argc, char** argv);
int bench(int argc, char** argv);
int bench_infer(int argc, char** argv);  // bench_infer.cpp
int export_model(int argc, char** argv);
int report(int argc, char** argv);
// --skip-input, shared by quantize and run (quantize.cpp).
void add_skip_input_option(cxxopts::Options& options);
genie::SkipInput skip_input_flag(const cxxopts::ParseResult& args);
// What a genie tensor file holds (info_file.cpp), for `genie info FILE`.
int describe_file(const std::string& path);

// Parses argv, rejecting stray positional arguments as cxxopts rejects unknown flags; prints
// the help and returns false when --help was given.
bool parse_or_help(cxxopts::Options& options, int argc, char** argv, cxxopts::ParseResult& out);

// The value `parse` reads from a flag; its std::invalid_argument becomes a usage error (exit 2).
template <class Parse>
auto parse_flag_value(Parse parse) -> decltype(parse()) {
  try {
    return parse();
  } catch (const std::invalid_argument& e) {
    throw cxxopts::exceptions::parsing(e.what());
  }
}

// The value of flag --`name`, a usage error naming the flag and the range unless it lies in
// lo..hi (so a NaN, never inside any range, is refused too); hi = the type's maximum reads
// "at least lo".
template <class T>
T flag_in_range(const cxxopts::ParseResult& args, const std::string& name, T lo, T hi) {
  T value = args[name].as<T>();
  if (!(value >= lo && value <= hi)) {
    std::ostringstream message;
    message << "--" << name << " must be ";
    if (hi == std::numeric_limits<T>::max())
      message << "at least " << lo;
    else
      message << lo << ".." << hi;
    message << ", got " << value;
    throw cxxopts::exceptions::parsing(message.str());
  }
  return value;
}

// The value of flag --`name`, a usage error unless it is at least lo.
template <class T>
T flag_at_least(const cxxopts::ParseResult& args, const std::string& name, T lo) {
  return flag_in_range(args, name, lo, std::numeric_limits<T>::max());
}

// The most images a command holds or makes at once: far beyond any calibration set, and small
// enough that counts of images times their values cannot overflow.
constexpr int kMaxImages = 1 << 20;
// The most iterations (or epochs) a loop takes.
constexpr int kMaxIterations = 1 << 30;

// A file or folder named by a flag, e.g. {"--calib", "d.gwt"}.
struct PathFlag {
  std::string flag;
  std::string path;
};

// Checks, before any work, that every output can be written where it goes: its folder exists
// and takes new files (engine::FileError naming the output otherwise), it is not a folder, and
// it is none of the inputs nor another output, compared after resolving links and by device
// and inode (a usage error naming both flags). Inputs with an empty path are skipped.
void check_outputs(const std::vector<PathFlag>& inputs, const std::vector<PathFlag>& outputs);
// Creates the folder `dir` (and its parents) if needed and checks that it takes new files.
void prepare_output_folder(const PathFlag& dir);
// The file or folder a dataset SPEC reads ("" when it names none).
std::string dataset_path(const std::string& spec);

// The --model flag of every command that reads a model ("" = the embedded default).
void add_model_option(cxxopts::Options& options);

// The --threads flag of every command, and applying it (or GENIE_THREADS) to the engine.
void add_threads_option(cxxopts::Options& options);
void apply_threads(const cxxopts::ParseResult& args);

// The --device flag (cpu or cuda; default engine::default_device()); applying it checks that the
// device can be used, before any work, and returns it. Commands move their model there.
void add_device_option(cxxopts::Options& options);
engine::Device apply_device(const cxxopts::ParseResult& args);

}  // namespace cli
