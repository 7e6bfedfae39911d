// The embedded default model: data/default.gw compiled into the binary, so that every command
// works on a fresh machine without a model file (data/README.md says how it was trained).
#include "models/model_file.h"

// The assembler copies the file's bytes into read-only data; the Makefile rebuilds this object
// when the file changes.
__asm__(
    ".section .rodata\n"
    ".global genie_default_model_begin\n"
    ".global genie_default_model_end\n"
    ".balign 16\n"
    "genie_default_model_begin:\n"
    ".incbin \"data/default.gw\"\n"
    "genie_default_model_end:\n"
    ".previous\n");

extern "C" const char genie_default_model_begin[];
extern "C" const char genie_default_model_end[];

namespace models {

ResNet default_model() {
  std::vector<uint8_t> bytes(genie_default_model_begin, genie_default_model_end);
  return model_from_file(engine::parse_tensor_file(bytes, "embedded default model"),
                         "embedded default model");
}

ResNet load_model_or_default(const std::string& path) {
  return path.empty() ? default_model() : load_model(path);
}

}  // namespace models
