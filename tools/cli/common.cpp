// Flag handling shared by the subcommands.
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "engine/tensor_file.h"
#include "engine/threads.h"
#include "tools/cli/commands.h"

namespace cli {

namespace fs = std::filesystem;

namespace {

// Whether a and b name one file: the same inode when both exist, else the same resolved path.
bool same_file(const std::string& a, const std::string& b) {
  std::error_code error;
  if (fs::exists(a, error) && fs::exists(b, error)) return fs::equivalent(a, b, error);
  return fs::weakly_canonical(a, error) == fs::weakly_canonical(b, error);
}

std::string folder_of(const std::string& path) {
  std::string folder = fs::path(path).parent_path().string();
  return folder.empty() ? "." : folder;
}

// Creating a file is the only test of a folder that root, read-only mounts and ACLs all answer
// truthfully; the probe file is removed at once.
void check_takes_new_files(const std::string& folder, const PathFlag& output) {
  std::string probe = folder + "/.genie-write-check-XXXXXX";
  int fd = mkstemp(probe.data());
  if (fd < 0)
    throw engine::FileError(output.path + ": cannot write " + output.flag + " into folder '" +
                            folder + "': " + std::strerror(errno));
  close(fd);
  std::remove(probe.c_str());
}

void check_writable(const PathFlag& output) {
  std::string folder = folder_of(output.path);
  std::error_code error;
  if (!fs::is_directory(folder, error))
    throw engine::FileError(output.path + ": the folder of " + output.flag + " does not exist");
  if (fs::is_directory(output.path, error))
    throw engine::FileError(output.path + ": " + output.flag + " is a folder, not a file");
  check_takes_new_files(folder, output);
}

void refuse_same(const PathFlag& output, const PathFlag& other, const char* what) {
  if (!other.path.empty() && same_file(output.path, other.path))
    throw cxxopts::exceptions::parsing(output.flag + " '" + output.path + "' is the same file as " +
                                       other.flag + " '" + other.path + "'" + what);
}

// The flag whose value cxxopts could not parse: its message quotes the value, not the flag.
std::string flag_with_value(int argc, char** argv, const std::string& message) {
  auto quoted = [&](const std::string& value) {
    return message.find("\u2018" + value + "\u2019") != std::string::npos;
  };
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    size_t equals = arg.find('=');
    if (arg.rfind("--", 0) == 0 && equals != std::string::npos && quoted(arg.substr(equals + 1)))
      return arg.substr(0, equals);
    if (arg.rfind("--", 0) == 0 && i + 1 < argc && quoted(argv[i + 1])) return arg;
  }
  return "";
}

}  // namespace

void check_outputs(const std::vector<PathFlag>& inputs, const std::vector<PathFlag>& outputs) {
  for (size_t i = 0; i < outputs.size(); ++i) {
    for (const PathFlag& input : inputs) refuse_same(outputs[i], input, ": it would be destroyed");
    for (size_t j = 0; j < i; ++j) refuse_same(outputs[i], outputs[j], "");
    check_writable(outputs[i]);
  }
}

void prepare_output_folder(const PathFlag& dir) {
  std::error_code error;
  fs::create_directories(dir.path, error);
  if (error || !fs::is_directory(dir.path))
    throw engine::FileError(dir.path + ": cannot make the " + dir.flag + " folder" +
                            (error ? ": " + error.message() : ""));
  check_takes_new_files(dir.path, dir);
}

std::string dataset_path(const std::string& spec) {
  size_t colon = spec.find(':');
  return colon == std::string::npos ? "" : spec.substr(colon + 1);
}

bool parse_or_help(cxxopts::Options& options, int argc, char** argv, cxxopts::ParseResult& out) {
  options.add_options()("h,help", "this help");
  try {
    out = options.parse(argc, argv);
  } catch (const cxxopts::exceptions::incorrect_argument_type& e) {
    std::string flag = flag_with_value(argc, argv, e.what());
    if (flag.empty()) throw;
    throw cxxopts::exceptions::parsing(flag + ": " + e.what());
  }
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
                        cxxopts::value<int>());
}

void apply_threads(const cxxopts::ParseResult& args) {
  int requested =
      args.count("threads") ? flag_in_range(args, "threads", 1, engine::kMaxThreads) : 0;
  engine::set_threads(parse_flag_value([&] { return engine::resolve_threads(requested); }));
}

void add_device_option(cxxopts::Options& options) {
  options.add_options()("device",
                        "cpu or cuda (default: cuda when built with it and a GPU is there)",
                        cxxopts::value<std::string>());
}

engine::Device apply_device(const cxxopts::ParseResult& args) {
  engine::Device device =
      args.count("device")
          ? parse_flag_value([&] { return engine::parse_device(args["device"].as<std::string>()); })
          : engine::default_device();
  engine::require_device(device);  // a runtime_error: exit 1 with the reason
  return device;
}

}  // namespace cli
