// libFuzzer harness: arbitrary bytes loaded as a quantized model must either load or throw
// FileError naming the input, as `genie eval` would see them. Seeds are version 1 files as well
// as version 2: without checksums, mutations reach the value checks behind the parser.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/tensor_file.h"
#include "genie/quantized_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    engine::TensorFile file =
        engine::parse_tensor_file(std::vector<uint8_t>(data, data + size), "fuzz input");
    genie::load_quantized(file, "fuzz input");
  } catch (const engine::FileError&) {
  }
  return 0;
}
