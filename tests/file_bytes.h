// Whole files as bytes, and a tensor file's layout walked independently of the engine's reader,
// for the tests and tools that build, damage or convert files byte by byte (data/FORMAT.md).
#pragma once

#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace testing {

using Bytes = std::vector<uint8_t>;

inline Bytes read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(f), {});
}

inline void write_bytes(const std::string& path, const Bytes& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

inline uint32_t u32_at(const Bytes& b, size_t at) {
  return b[at] | b[at + 1] << 8 | b[at + 2] << 16 | static_cast<uint32_t>(b[at + 3]) << 24;
}

// Offsets in a well-formed file: a tensor runs from `start` (its name length) through its data,
// which begins at `data` and ends at `end`; version 2 puts the tensor's checksum at `end`.
struct TensorSpan {
  size_t start, data, end;
};

struct FileLayout {
  size_t header_end = 0;  // just after the tensor count (where version 2 has its checksum)
  std::vector<TensorSpan> tensors;
};

inline FileLayout layout_of(const Bytes& b) {
  bool checksummed = u32_at(b, 4) == 2;
  FileLayout l;
  size_t at = 12;
  for (uint32_t i = 0; i < 2 * u32_at(b, 8); ++i) at += 4 + u32_at(b, at);
  uint32_t tensors = u32_at(b, at);
  l.header_end = at + 4;
  at = l.header_end + (checksummed ? 4 : 0);
  for (uint32_t t = 0; t < tensors; ++t) {
    TensorSpan s;
    s.start = at;
    at += 4 + u32_at(b, at);
    int bits = b[at + 1], ndim = b[at + 2];
    at += 3;
    uint64_t count = 1;
    for (int d = 0; d < ndim; ++d, at += 4) count *= u32_at(b, at);
    s.data = at;
    s.end = at + (bits == 32 ? 4 * count : (count * bits + 7) / 8);
    l.tensors.push_back(s);
    at = s.end + (checksummed ? 4 : 0);
  }
  return l;
}

}  // namespace testing
