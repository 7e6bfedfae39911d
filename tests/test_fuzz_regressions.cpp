// Inputs the fuzzers (tests/fuzz/) once crashed on, and hand-made ones for crashes found
// elsewhere: each must be refused with a FileError naming it, as `genie eval` would load it.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "engine/tensor_file.h"
#include "genie/quantized_file.h"

TEST_CASE("every fuzz regression input is refused with a FileError naming it") {
  int inputs = 0;
  for (const auto& entry : std::filesystem::directory_iterator("tests/fuzz/regressions")) {
    std::string path = entry.path().string();
    CAPTURE(path);
    std::ifstream f(path, std::ios::binary);
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), {});
    auto load = [&] {
      engine::TensorFile file = engine::parse_tensor_file(bytes, path);
      if (genie::is_quantized_file(file)) genie::load_quantized(file, path);
    };
    CHECK_THROWS_WITH_AS(load(), doctest::Contains((path + ": ").c_str()), engine::FileError);
    ++inputs;
  }
  CHECK(inputs > 0);
}
