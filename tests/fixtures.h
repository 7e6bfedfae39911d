// Finding the committed test fixtures (tests/fixtures/) whatever directory the tests run from.
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

namespace testing {

// The path of tests/fixtures/<name>: from the working directory (`make test` runs in the repo
// root), next to this header as the compiler saw it, or beside the test binary's build folder.
inline std::string fixture_path(const std::string& name) {
  namespace fs = std::filesystem;
  std::vector<fs::path> candidates = {fs::path("tests") / "fixtures" / name,
                                      fs::path(__FILE__).parent_path() / "fixtures" / name};
  std::error_code error;
  fs::path exe = fs::read_symlink("/proc/self/exe", error);
  if (!error) candidates.push_back(exe.parent_path().parent_path() / "tests" / "fixtures" / name);
  std::string tried;
  for (const fs::path& p : candidates) {
    if (fs::exists(p, error)) return p.string();
    tried += " " + p.string();
  }
  throw std::runtime_error("fixture " + name + " not found; tried" + tried);
}

}  // namespace testing
