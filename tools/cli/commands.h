// The subcommands of the genie CLI. Each parses its own flags into a config struct and calls
// one library function; each returns the process exit code (0 ok, 1 failure, 2 usage error).
#pragma once

#include <cxxopts.hpp>
#include <stdexcept>
#include <string>

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
int quantize(int argc, char** argv);
int run(int argc, char** argv);
int bench(int argc, char** argv);

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

// The --model flag of every command that reads a model ("" = the embedded default).
void add_model_option(cxxopts::Options& options);

// The --threads flag of every command, and applying it (or GENIE_THREADS) to the engine.
void add_threads_option(cxxopts::Options& options);
void apply_threads(const cxxopts::ParseResult& args);

}  // namespace cli
