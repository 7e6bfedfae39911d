// The tensor file container: exact round trips, the byte layout of data/FORMAT.md built by
// hand, and every kind of corruption ending in a FileError that names the file and the field.
#include <doctest/doctest.h>
#include <unistd.h>
#include <zlib.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

#include "engine/tensor_file.h"
#include "tests/file_bytes.h"

using engine::CodeTensor;
using engine::FileError;
using engine::Tensor;
using engine::TensorFile;
using testing::Bytes;
using testing::read_bytes;
using testing::write_bytes;

namespace {

// A fresh directory per test process, so helpers running the suite at once do not collide;
// removed when the process exits.
struct ScratchDir {
  std::filesystem::path path = std::filesystem::temp_directory_path() /
                               ("genie_test_tensor_file_" + std::to_string(getpid()));
  ScratchDir() { std::filesystem::create_directories(path); }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

std::string scratch(const std::string& name) {
  static const ScratchDir dir;
  return (dir.path / name).string();
}

// The FileError message of reading `bytes` from a file, or "" when reading succeeds.
std::string read_error(const Bytes& bytes, const std::string& name = "bad.gw") {
  std::string path = scratch(name);
  write_bytes(path, bytes);
  try {
    engine::read_tensor_file(path);
  } catch (const FileError& e) {
    return e.what();
  }
  return "";
}

// Little-endian writers for building files by hand, independently of the engine's writer.
void u32(Bytes& b, uint32_t v) {
  for (int k = 0; k < 4; ++k) b.push_back(static_cast<uint8_t>(v >> (8 * k)));
}
void text(Bytes& b, const std::string& s) {
  u32(b, static_cast<uint32_t>(s.size()));
  b.insert(b.end(), s.begin(), s.end());
}
void header(Bytes& b, const std::string& name, uint8_t dtype, uint8_t bits,
            const std::vector<uint32_t>& dims) {
  text(b, name);
  b.push_back(dtype);
  b.push_back(bits);
  b.push_back(static_cast<uint8_t>(dims.size()));
  for (uint32_t d : dims) u32(b, d);
}
// Appends the CRC32 of b[start..] (a version 2 checksum).
void crc(Bytes& b, size_t start) {
  u32(b, static_cast<uint32_t>(crc32(0, b.data() + start, static_cast<uInt>(b.size() - start))));
}
Bytes preamble(uint32_t version = 1) {
  Bytes b{'G', 'N', 'I', 'E'};
  u32(b, version);
  return b;
}

// One metadata pair, a float tensor 'fc.weight' (2, 3) = 0..5 and a 3-bit code tensor 'q'
// holding 1, 2, 3, 4, 5; version 2 adds the checksums.
Bytes small_file(uint32_t version = 2) {
  bool checksummed = version == 2;
  Bytes b = preamble(version);
  u32(b, 1);
  text(b, "arch");
  text(b, "resnet20");
  u32(b, 2);
  if (checksummed) crc(b, 0);
  size_t start = b.size();
  header(b, "fc.weight", 0, 32, {2, 3});
  for (int i = 0; i < 6; ++i) {
    float v = static_cast<float>(i);
    uint32_t u;
    std::memcpy(&u, &v, 4);
    u32(b, u);
  }
  if (checksummed) crc(b, start);
  start = b.size();
  header(b, "q", 1, 3, {5});
  // 1 | 2<<3 | 3<<6 | 4<<9 | 5<<12 = 0x58D1, LSB first.
  b.push_back(0xD1);
  b.push_back(0x58);
  if (checksummed) crc(b, start);
  return b;
}

// Names in `dir` that start with `prefix`: leftovers of an interrupted write.
std::vector<std::string> names_starting(const std::string& dir, const std::string& prefix) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) == 0) names.push_back(name);
  }
  return names;
}

// An empty vector's data() may be null, which memcmp must not see even for 0 bytes.
bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), 4 * a.size()) == 0);
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("tensor file round-trips metadata, float tensors and codes of every width exactly") {
  TensorFile file;
  file.set_meta("arch", "resnet20");
  file.set_meta("mean", "0.2860");
  file.set_meta("empty", "");
  file.set_meta("unicode ключ", "значение");
  file.set_meta("arch", "resnet56");  // replaces in place, keeps the order
  float nan = std::nanf("");
  file.tensors.emplace_back("scalar", Tensor({}, {3.5f}));
  file.tensors.emplace_back("conv.weight",
                            Tensor({2, 1, 3, 1}, {-0.0f, 1e-40f, INFINITY, -INFINITY, nan, 7.25f}));
  file.tensors.emplace_back("empty", Tensor({3, 0, 2}));
  for (int bits : {1, 2, 3, 4, 5, 7, 8})
    for (int count : {1, 7, 13, 33}) {
      CodeTensor c{{count}, bits, std::vector<uint8_t>(count)};
      for (int i = 0; i < count; ++i)
        c.codes[i] = static_cast<uint8_t>((i * 37 + bits) % (1 << bits));
      c.codes[count - 1] = static_cast<uint8_t>((1 << bits) - 1);  // the top code sets every bit
      file.codes.emplace_back("codes." + std::to_string(bits) + "." + std::to_string(count), c);
    }
  std::string path = scratch("round.gw");
  engine::write_tensor_file(path, file);
  TensorFile back = engine::read_tensor_file(path);

  CHECK(back.metadata == file.metadata);
  CHECK(back.metadata[0] == std::make_pair(std::string("arch"), std::string("resnet56")));
  REQUIRE(back.tensors.size() == file.tensors.size());
  for (size_t i = 0; i < file.tensors.size(); ++i) {
    CHECK(back.tensors[i].first == file.tensors[i].first);
    CHECK(back.tensors[i].second.shape() == file.tensors[i].second.shape());
    CHECK(same_bits(back.tensors[i].second.values(), file.tensors[i].second.values()));
  }
  REQUIRE(back.codes.size() == file.codes.size());
  for (size_t i = 0; i < file.codes.size(); ++i) {
    INFO(file.codes[i].first);
    CHECK(back.codes[i].first == file.codes[i].first);
    CHECK(back.codes[i].second.shape == file.codes[i].second.shape);
    CHECK(back.codes[i].second.bits == file.codes[i].second.bits);
    CHECK(back.codes[i].second.codes == file.codes[i].second.codes);
  }
  // Packed size: 7 codes of 3 bits are 21 bits, 3 bytes, not 7.
  const CodeTensor* c = back.code("codes.3.7");
  REQUIRE(c != nullptr);
  CHECK(c->codes.size() == 7);
  CHECK(back.tensor("scalar")->item() == 3.5f);
  CHECK(*back.meta("mean") == "0.2860");
  CHECK(back.meta("missing") == nullptr);
  CHECK(back.tensor("codes.3.7") == nullptr);  // codes are not float tensors
  CHECK(back.code("scalar") == nullptr);
  CHECK(names_starting(scratch(""), "round.gw.tmp").empty());
}

TEST_CASE("tensor file bytes follow data/FORMAT.md") {
  Bytes expected = small_file();
  TensorFile parsed = [&] {
    std::string path = scratch("by_hand.gw");
    write_bytes(path, expected);
    return engine::read_tensor_file(path);
  }();
  REQUIRE(parsed.tensors.size() == 1);
  CHECK(parsed.tensors[0].second.shape() == engine::Shape{2, 3});
  CHECK(parsed.tensors[0].second.values() == std::vector<float>{0, 1, 2, 3, 4, 5});
  REQUIRE(parsed.codes.size() == 1);
  CHECK(parsed.codes[0].second.bits == 3);
  CHECK(parsed.codes[0].second.codes == Bytes{1, 2, 3, 4, 5});
  CHECK(*parsed.meta("arch") == "resnet20");

  std::string path = scratch("rewritten.gw");
  engine::write_tensor_file(path, parsed);
  CHECK(read_bytes(path) == expected);
}

TEST_CASE("version 1 tensor files, without checksums, still read") {
  std::string path = scratch("v1.gw");
  write_bytes(path, small_file(1));
  TensorFile v1 = engine::read_tensor_file(path);
  write_bytes(path, small_file(2));
  TensorFile v2 = engine::read_tensor_file(path);
  CHECK(v1.metadata == v2.metadata);
  REQUIRE(v1.tensors.size() == 1);
  CHECK(v1.tensors[0].second.values() == v2.tensors[0].second.values());
  REQUIRE(v1.codes.size() == 1);
  CHECK(v1.codes[0].second.codes == v2.codes[0].second.codes);
}

TEST_CASE("a checksum mismatch names the file and the damaged tensor or the header") {
  Bytes whole = small_file();
  size_t float_data = 4 + 4 + 4 + 8 + 12 + 4 + 4 + 13 + 3 + 8;
  Bytes b = whole;
  b[float_data + 5] ^= 0x01;  // a low mantissa bit of fc.weight[1]
  CHECK(contains(read_error(b, "damaged.gw"),
                 "damaged.gw: tensor 'fc.weight' checksum mismatch (stored 0x"));
  b = whole;
  b[12 + 8 + 4 + 2] ^= 0x01;  // "resnet20" becomes "rdsnet20"
  CHECK(contains(read_error(b, "damaged.gw"), "damaged.gw: header and metadata checksum mismatch"));
  b = whole;
  b.back() ^= 0x80;  // the stored checksum itself
  CHECK(contains(read_error(b, "damaged.gw"), "damaged.gw: tensor 'q' checksum mismatch"));
}

TEST_CASE("a truncated tensor file is always a FileError naming the file") {
  Bytes whole = small_file();
  for (size_t n = 0; n < whole.size(); ++n) {
    std::string msg = read_error(Bytes(whole.begin(), whole.begin() + n), "truncated.gw");
    INFO("truncated to " << n << " bytes: " << msg);
    CHECK(contains(msg, "truncated.gw: "));
    CHECK(contains(msg, "remain"));
  }
  // Cut inside each part: the message names the part that is short.
  size_t float_data = 4 + 4 + 4 + 8 + 12 + 4 + 4 + 13 + 3 + 8;
  CHECK(contains(read_error(Bytes(whole.begin(), whole.begin() + 2)), "magic needs 4 bytes"));
  CHECK(contains(read_error(Bytes(whole.begin(), whole.begin() + 14)),
                 "metadata entry 0 key length needs 4 bytes but only 2 remain"));
  CHECK(contains(read_error(Bytes(whole.begin(), whole.begin() + float_data + 10)),
                 "bad.gw: tensor 'fc.weight': data needs 24 bytes but only 10 remain"));
  CHECK(contains(read_error(Bytes(whole.begin(), whole.end() - 5)),
                 "tensor 'q': data needs 2 bytes but only 1 remain"));
  CHECK(contains(read_error(Bytes(whole.begin(), whole.end() - 1)),
                 "tensor 'q' checksum needs 4 bytes but only 3 remain"));
}

TEST_CASE("tensor file header corruption is named") {
  Bytes b = small_file();
  b[0] = 'X';
  CHECK(contains(read_error(b), "bad magic"));

  b = small_file();
  b[4] = 3;
  CHECK(contains(read_error(b), "unsupported version 3 (expected 1 or 2)"));

  b = small_file();
  b.push_back(0);
  CHECK(contains(read_error(b), "bad.gw: 1 trailing bytes"));

  b = preamble();
  u32(b, 0xFFFFFFFF);
  CHECK(contains(read_error(b), "metadata count 4294967295 exceeds the limit 4096"));

  b = preamble();
  u32(b, 0);
  u32(b, 65537);
  CHECK(contains(read_error(b), "tensor count 65537 exceeds the limit 65536"));

  b = preamble();
  u32(b, 1);
  u32(b, 0xFFFFFFF0);  // key length
  CHECK(contains(read_error(b), "metadata entry 0 key length 4294967280 is outside 0..1048576"));

  b = preamble();
  u32(b, 1);
  text(b, "arch");
  u32(b, 1000);
  CHECK(contains(read_error(b), "metadata 'arch' value needs 1000 bytes but only 0 remain"));

  b = preamble();
  u32(b, 2);
  for (int i = 0; i < 2; ++i) {
    text(b, "arch");
    text(b, "x");
  }
  u32(b, 0);
  CHECK(contains(read_error(b), "duplicate metadata key 'arch'"));

  b = preamble();
  u32(b, 1);
  text(b, std::string("\xC0\x80", 2));  // overlong NUL
  text(b, "x");
  u32(b, 0);
  CHECK(contains(read_error(b), "metadata entry 0 key is not valid UTF-8"));
}

TEST_CASE("tensor file tensor headers are validated") {
  auto one = [](const std::string& name, uint8_t dtype, uint8_t bits,
                const std::vector<uint32_t>& dims, size_t data_bytes, uint8_t fill = 0) {
    Bytes b = preamble();
    u32(b, 0);
    u32(b, 1);
    header(b, name, dtype, bits, dims);
    b.insert(b.end(), data_bytes, fill);
    return read_error(b);
  };
  CHECK(one("ok", 0, 32, {3, 1}, 12).empty());
  CHECK(one("ok", 1, 4, {3}, 2).empty());
  CHECK(contains(one("t", 2, 32, {1}, 4), "tensor 't' dtype 2 is not 0 (float32) or 1 (codes)"));
  CHECK(contains(one("t", 0, 16, {1}, 4), "tensor 't' bits 16 is illegal for float32"));
  CHECK(contains(one("t", 1, 0, {1}, 1), "tensor 't' bits 0 is illegal for codes"));
  CHECK(contains(one("t", 1, 9, {1}, 2), "tensor 't' bits 9 is illegal for codes"));
  CHECK(contains(one("t", 0, 32, std::vector<uint32_t>(9, 1), 4), "tensor 't' ndim 9 exceeds 8"));
  CHECK(contains(one("t", 0, 32, {2, 0x80000000u}, 0), "tensor 't' dim 1 is 2147483648"));
  CHECK(contains(one("t", 0, 32, std::vector<uint32_t>(8, 0x7FFFFFFF), 0),
                 "tensor 't' element count of shape"));
  CHECK(
      contains(one("t", 0, 32, std::vector<uint32_t>(3, 0x7FFFFFFF), 0),
               "tensor 't' element count of shape (2147483647, 2147483647, 2147483647) overflows"));
  CHECK(contains(one("t", 0, 32, std::vector<uint32_t>(2, 0x7FFFFFFF), 0),
                 "tensor 't': data needs 18446744056529682436 bytes but only 0 remain"));
  CHECK(contains(one("", 0, 32, {1}, 4), "tensor 0 name length 0 is outside 1..1024"));
  CHECK(contains(one(std::string(1025, 'a'), 0, 32, {1}, 4), "name length 1025"));
  // 3 codes of 3 bits use 9 bits: the 7 unused bits of the second byte must be zero.
  CHECK(contains(one("q", 1, 3, {3}, 2, 0xFF), "tensor 'q': unused bits of the last code byte"));
  // A zero dimension makes an empty tensor even when the other dims are large, as long as their
  // product fits: the engine multiplies dimensions in order (once a fuzzer-found overflow).
  CHECK(one("z", 0, 32, {0x7FFFFFFF, 0x7FFFFFFF, 0}, 0).empty());
  CHECK(contains(one("z", 0, 32, {0x7FFFFFFF, 0x7FFFFFFF, 0x7FFFFFFF, 0}, 0),
                 "tensor 'z' element count of shape (2147483647, 2147483647, 2147483647, 0) "
                 "overflows"));

  Bytes b = preamble();
  u32(b, 0);
  u32(b, 2);
  header(b, "w", 0, 32, {});
  u32(b, 0);
  header(b, "w", 1, 8, {1});
  b.push_back(0);
  CHECK(contains(read_error(b), "duplicate tensor name 'w'"));
}

TEST_CASE("reading a missing tensor file names the path and the reason") {
  std::string path = scratch("does_not_exist.gw");
  try {
    engine::read_tensor_file(path);
    FAIL("no error");
  } catch (const FileError& e) {
    CHECK(contains(e.what(), path));
    CHECK(contains(e.what(), "No such file or directory"));
  }
}

TEST_CASE("writing a tensor file is atomic and failures name the path") {
  TensorFile file;
  file.tensors.emplace_back("w", Tensor({2}, {1, 2}));

  std::string bad = scratch("no_such_dir/out.gw");
  try {
    engine::write_tensor_file(bad, file);
    FAIL("no error");
  } catch (const FileError& e) {
    CHECK(contains(e.what(), bad));
    CHECK(contains(e.what(), "No such file or directory"));
  }

  std::string path = scratch("atomic.gw");
  engine::write_tensor_file(path, file);
  Bytes before = read_bytes(path);
  // Invalid content is rejected before anything is written: the old file survives whole.
  TensorFile invalid;
  invalid.codes.push_back({"q", CodeTensor{{3}, 2, {0, 4, 1}}});
  CHECK_THROWS_WITH_AS(engine::write_tensor_file(path, invalid),
                       doctest::Contains("tensor 'q' code 4 does not fit 2 bits"), FileError);
  invalid.codes = {{"q", CodeTensor{{3}, 2, {0, 1}}}};
  CHECK_THROWS_WITH_AS(engine::write_tensor_file(path, invalid),
                       doctest::Contains("tensor 'q' has 2 codes for shape (3)"), FileError);
  invalid.codes = {{"w", CodeTensor{{1}, 2, {0}}}};
  invalid.tensors = file.tensors;
  CHECK_THROWS_WITH_AS(engine::write_tensor_file(path, invalid),
                       doctest::Contains("duplicate tensor name 'w'"), FileError);
  CHECK(read_bytes(path) == before);

  file.tensors[0].second.data()[1] = 9;
  engine::write_tensor_file(path, file);
  CHECK(engine::read_tensor_file(path).tensor("w")->values() == std::vector<float>{1, 9});
  CHECK(names_starting(scratch(""), "atomic.gw.tmp").empty());
}

TEST_CASE("writing a tensor file never writes through a symlink planted at a temporary name") {
  TensorFile file;
  file.tensors.emplace_back("w", Tensor({2}, {1, 2}));
  std::string victim = scratch("victim.txt"), path = scratch("linked.gw");
  write_bytes(victim, Bytes{'k', 'e', 'e', 'p'});
  std::filesystem::create_symlink(victim, path + ".tmp");
  engine::write_tensor_file(path, file);
  CHECK(read_bytes(victim) == Bytes{'k', 'e', 'e', 'p'});
  CHECK(std::filesystem::is_symlink(path + ".tmp"));
  CHECK(engine::read_tensor_file(path).tensor("w")->values() == std::vector<float>{1, 2});
  // The only name left besides the output is the planted link: the temporary was renamed.
  CHECK(names_starting(scratch(""), "linked.gw.tmp") == std::vector<std::string>{"linked.gw.tmp"});

  // A symlink at the output itself is replaced, its target left alone.
  std::filesystem::create_symlink(victim, scratch("out_link.gw"));
  engine::write_tensor_file(scratch("out_link.gw"), file);
  CHECK(read_bytes(victim) == Bytes{'k', 'e', 'e', 'p'});
  CHECK(!std::filesystem::is_symlink(scratch("out_link.gw")));
}

TEST_CASE("a version 2 tensor file with any one byte changed is refused, naming the file") {
  Bytes whole = small_file();
  std::string path = scratch("flipped.gw");
  int refused = 0, tried = 0;
  for (size_t i = 0; i < whole.size(); ++i)
    for (uint8_t mask : {0x01, 0x80, 0xFF}) {
      Bytes b = whole;
      b[i] ^= mask;
      write_bytes(path, b);
      INFO("byte " << i << " xor " << int(mask));
      ++tried;
      try {
        engine::read_tensor_file(path);
      } catch (const FileError& e) {
        CHECK(contains(e.what(), path + ": "));
        ++refused;
      }
    }
  CHECK(refused == tried);
}
