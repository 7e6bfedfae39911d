// libFuzzer harness: arbitrary bytes parsed as a tensor file must either load or throw
// FileError. Anything else (a crash, a sanitizer report, another exception, an allocation past
// libFuzzer's memory limit) is a bug.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/tensor_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    engine::parse_tensor_file(std::vector<uint8_t>(data, data + size), "fuzz input");
  } catch (const engine::FileError&) {
  }
  return 0;
}
