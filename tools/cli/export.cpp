// `genie export --onnx OUT.onnx --model Q.gw`: a quantized model as a QDQ-format ONNX file.
//
// genie describes the graph (genie/int_onnx_graph.h) and tools/export_onnx.py writes it with
// the `onnx` Python package: the format's own library builds and checks the protobufs, where
// C++ would need libonnx-dev's generated protobuf code and a protobuf link for one command.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "engine/tensor_file.h"
#include "genie/int_onnx_graph.h"
#include "genie/quantized_file.h"
#include "tools/cli/commands.h"

namespace cli {

namespace fs = std::filesystem;

namespace {

// tools/export_onnx.py beside the build folder of this binary, else under the working folder.
std::string export_script() {
  std::error_code error;
  fs::path beside = fs::read_symlink("/proc/self/exe", error).parent_path().parent_path() /
                    "tools" / "export_onnx.py";
  if (!error && fs::exists(beside, error)) return beside.string();
  if (fs::exists("tools/export_onnx.py", error)) return "tools/export_onnx.py";
  throw engine::FileError("tools/export_onnx.py: not found beside the genie binary nor here");
}

// Runs argv[0] with `argv` and waits; its exit status (127 when it could not start).
int run_program(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::fflush(nullptr);
  pid_t child = fork();
  if (child < 0) return 127;
  if (child == 0) {
    execvp(args[0], args.data());
    std::perror(args[0]);
    _exit(127);
  }
  int status = 0;
  waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 127;
}

}  // namespace

int export_model(int argc, char** argv) {
  cxxopts::Options options("genie export", "Write a quantized model as a QDQ ONNX file.");
  auto add = options.add_options();
  add("onnx", "the ONNX file to write", cxxopts::value<std::string>());
  add("model", "quantized model file (.gw)", cxxopts::value<std::string>());
  add("python", "the Python with the onnx package (Debian python3-onnx)",
      cxxopts::value<std::string>()->default_value("/usr/bin/python3"));
  cxxopts::ParseResult args;
  if (!parse_or_help(options, argc, argv, args)) return 0;
  if (!args.count("onnx") || !args.count("model"))
    throw cxxopts::exceptions::parsing("--onnx OUT.onnx and --model Q.gw are required");
  const std::string out = args["onnx"].as<std::string>(), model = args["model"].as<std::string>();
  check_outputs({{"--model", model}}, {{"--onnx", out}});
  engine::TensorFile file = engine::read_tensor_file(model);
  if (!genie::is_quantized_file(file))
    throw engine::FileError(model + ": --model must be a quantized model (genie quantize)");
  genie::LoadedQuantizedModel q = genie::load_quantized(file, model);
  const std::string graph = out + ".graph.json";
  std::ofstream(graph) << genie::qdq_graph_json(*q.quantized);
  int status = run_program({args["python"].as<std::string>(), export_script(), graph, out});
  std::remove(graph.c_str());
  if (status != 0) throw engine::FileError(out + ": tools/export_onnx.py failed (see above)");
  std::printf("onnx=%s bytes=%lld\n", out.c_str(), static_cast<long long>(fs::file_size(out)));
  return 0;
}

}  // namespace cli
