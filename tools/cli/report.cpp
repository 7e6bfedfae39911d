// `genie report OUT_DIR DIR`: the page about an earlier `genie run --out OUT_DIR`, written to
// DIR/index.html (see genie/report_page.h).
#include <cstdio>
#include <filesystem>

#include "engine/tensor_file.h"
#include "genie/report_page.h"
#include "tools/cli/commands.h"

namespace cli {

int report(int argc, char** argv) {
  cxxopts::Options options("genie report",
                           "Write DIR/index.html, the page about an earlier `genie run --out "
                           "OUT_DIR`.");
  options.positional_help("OUT_DIR DIR");
  options.add_options()("out_dir", "the run's --out folder", cxxopts::value<std::string>())(
      "report_dir", "the folder for index.html", cxxopts::value<std::string>());
  options.parse_positional({"out_dir", "report_dir"});
  cxxopts::ParseResult args;
  if (!parse_or_help(options, argc, argv, args)) return 0;
  if (!args.count("out_dir") || !args.count("report_dir"))
    throw cxxopts::exceptions::parsing("needs OUT_DIR (a `genie run --out` folder) and DIR");
  const std::string out_dir = args["out_dir"].as<std::string>();
  const std::string report_dir = args["report_dir"].as<std::string>();
  if (!std::filesystem::is_directory(out_dir))
    throw engine::FileError(out_dir + ": not a folder (expected a `genie run --out` folder)");
  prepare_output_folder({"DIR", report_dir});
  check_outputs({}, {{"DIR", report_dir + "/index.html"}});
  genie::write_report(out_dir, report_dir);
  std::printf("report=%s/index.html\n", report_dir.c_str());
  return 0;
}

}  // namespace cli
