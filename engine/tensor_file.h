// The genie tensor file: metadata plus named tensors, the container for weights, quantized
// models, distilled images and test fixtures. The byte layout is documented in data/FORMAT.md.
//
// Reading validates everything against the file length and the checksums (version 2); any
// problem throws FileError whose message names the file and the offending field or tensor.
// Writing is atomic (a freshly created temporary file, synced, then renamed over the target),
// so a killed run never leaves a half-written file, and it never writes through a symlink.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace engine {

class FileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Integer codes of a quantized tensor, one byte per element in memory, packed on disk.
struct CodeTensor {
  Shape shape;
  int bits = 8;                // 1..8
  std::vector<uint8_t> codes;  // (numel) each in [0, 2^bits)
};

struct TensorFile {
  std::vector<std::pair<std::string, std::string>> metadata;  // in file order
  std::vector<std::pair<std::string, Tensor>> tensors;        // float32, in file order
  std::vector<std::pair<std::string, CodeTensor>> codes;      // integer codes, in file order

  // nullptr when absent.
  const std::string* meta(const std::string& key) const;
  const Tensor* tensor(const std::string& name) const;
  const CodeTensor* code(const std::string& name) const;
  void set_meta(const std::string& key, const std::string& value);
};

TensorFile read_tensor_file(const std::string& path);
// The same from bytes in memory; `origin` names them in error messages.
TensorFile parse_tensor_file(const std::vector<uint8_t>& bytes, const std::string& origin);
// Writing throws FileError naming the path, also for content the reader would reject.
void write_tensor_file(const std::string& path, const TensorFile& file);
// Any file written the same way (a fresh temporary, synced, renamed over `path`); throws
// FileError naming the path.
void write_file_atomically(const std::string& path, const std::vector<uint8_t>& bytes);

}  // namespace engine
