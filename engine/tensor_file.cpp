// Reading and writing the genie tensor file (layout in data/FORMAT.md).
//
// The whole file is read into memory and parsed by a cursor that checks every length against
// the bytes that remain before it touches them, so a corrupt or truncated file can only ever
// produce a FileError. Version 2 adds CRC32 checksums (header with metadata, and each tensor),
// verified before any tensor data is decoded, so damage that keeps the structure intact (a
// flipped weight or metadata digit) is an error too rather than a silently different model.
// The writer checks the same rules before it creates anything, so it never writes a file the
// reader would reject.
//
// Shapes: a float tensor holds numel floats; a code tensor holds numel codes, one byte each in
// memory and `bits` bits each on disk.
#include "engine/tensor_file.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <random>
#include <set>

namespace engine {

namespace {

constexpr char kMagic[4] = {'G', 'N', 'I', 'E'};
// Version 1 has no checksums; it is still read, never written.
constexpr uint32_t kVersionPlain = 1;
constexpr uint32_t kVersion = 2;
constexpr uint32_t kMaxMetadata = 4096;
constexpr uint32_t kMaxTensors = 65536;
constexpr uint32_t kMaxMetaBytes = 1u << 20;
constexpr uint32_t kMaxNameBytes = 1024;
constexpr int kMaxDims = 8;
constexpr uint8_t kFloat32 = 0;
constexpr uint8_t kCodes = 1;

// Well-formed UTF-8: no stray continuation bytes, overlong forms, surrogates or values above
// U+10FFFF, so that names print sensibly and round-trip through other tools.
bool valid_utf8(const std::string& s) {
  size_t i = 0, n = s.size();
  while (i < n) {
    unsigned char c = s[i];
    int extra = c < 0x80           ? 0
                : (c >> 5) == 0x6  ? 1
                : (c >> 4) == 0xE  ? 2
                : (c >> 3) == 0x1E ? 3
                                   : -1;
    if (extra < 0 || n - i <= static_cast<size_t>(extra)) return false;
    uint32_t cp = extra == 0 ? c : c & (0x3F >> extra);
    for (int k = 1; k <= extra; ++k) {
      unsigned char cc = s[i + k];
      if ((cc >> 6) != 0x2) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static const uint32_t kMinOf[4] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMinOf[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += extra + 1;
  }
  return true;
}

std::string quoted(const std::string& name) { return "'" + name + "'"; }

std::string hex32(uint32_t v) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%08x", v);
  return text;
}

uint32_t crc_of(const uint8_t* bytes, size_t size) {
  return static_cast<uint32_t>(crc32_z(crc32_z(0, nullptr, 0), bytes, size));
}

// Bytes of packed codes for `count` elements, or false when the bit count overflows.
bool packed_bytes(uint64_t count, int bits, uint64_t* bytes) {
  if (count > UINT64_MAX / 8) return false;
  *bytes = (count * bits + 7) / 8;
  return true;
}

// Element i occupies stream bits [i*bits, (i+1)*bits), stream bit j being bit j%8 of byte j/8.
std::vector<uint8_t> pack_codes(const std::vector<uint8_t>& codes, int bits) {
  std::vector<uint8_t> out;
  out.reserve((codes.size() * bits + 7) / 8);
  uint32_t acc = 0;
  int filled = 0;
  for (uint8_t c : codes) {
    acc |= static_cast<uint32_t>(c) << filled;
    filled += bits;
    for (; filled >= 8; filled -= 8, acc >>= 8) out.push_back(static_cast<uint8_t>(acc));
  }
  if (filled > 0) out.push_back(static_cast<uint8_t>(acc));
  return out;
}

std::vector<uint8_t> unpack_codes(const uint8_t* bytes, size_t count, int bits) {
  std::vector<uint8_t> codes(count);
  uint32_t mask = (1u << bits) - 1, acc = 0;
  int filled = 0;
  for (size_t i = 0; i < count; ++i) {
    if (filled < bits) {
      acc |= static_cast<uint32_t>(*bytes++) << filled;
      filled += 8;
    }
    codes[i] = static_cast<uint8_t>(acc & mask);
    acc >>= bits;
    filled -= bits;
  }
  return codes;
}

// ---- reading ----

class Cursor {
 public:
  Cursor(const std::string& path, const std::vector<uint8_t>& bytes) : path_(path), bytes_(bytes) {}

  [[noreturn]] void fail(const std::string& what) const { throw FileError(path_ + ": " + what); }
  size_t remaining() const { return bytes_.size() - pos_; }
  size_t position() const { return pos_; }

  // Consumes n bytes, failing with "<what> needs n bytes but only r remain" when short.
  const uint8_t* take(uint64_t n, const std::string& what) {
    if (n > remaining())
      fail(what + " needs " + std::to_string(n) + " bytes but only " + std::to_string(remaining()) +
           " remain");
    const uint8_t* p = bytes_.data() + pos_;
    pos_ += n;
    return p;
  }
  uint8_t u8(const std::string& what) { return *take(1, what); }
  uint32_t u32(const std::string& what) {
    const uint8_t* p = take(4, what);
    return p[0] | p[1] << 8 | p[2] << 16 | static_cast<uint32_t>(p[3]) << 24;
  }
  // Reads the stored CRC32 of the bytes from `start` to here and compares it with theirs.
  void check_crc(size_t start, const std::string& what) {
    uint32_t computed = crc_of(bytes_.data() + start, pos_ - start);
    uint32_t stored = u32(what + " checksum");
    if (stored != computed)
      fail(what + " checksum mismatch (stored " + hex32(stored) + ", computed " + hex32(computed) +
           "): the file is damaged");
  }
  // A u32 length (min..max) followed by that many bytes of UTF-8.
  std::string text(const std::string& what, uint32_t min, uint32_t max) {
    uint32_t n = u32(what + " length");
    if (n < min || n > max)
      fail(what + " length " + std::to_string(n) + " is outside " + std::to_string(min) + ".." +
           std::to_string(max));
    const uint8_t* p = take(n, what);
    std::string s(reinterpret_cast<const char*>(p), n);
    if (!valid_utf8(s)) fail(what + " is not valid UTF-8");
    return s;
  }

 private:
  const std::string& path_;
  const std::vector<uint8_t>& bytes_;
  size_t pos_ = 0;
};

std::vector<uint8_t> slurp(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw FileError(path + ": cannot open: " + std::strerror(errno));
  std::vector<uint8_t> bytes;
  uint8_t chunk[1 << 16];
  size_t got;
  while ((got = std::fread(chunk, 1, sizeof chunk, f)) > 0)
    bytes.insert(bytes.end(), chunk, chunk + got);
  int err = std::ferror(f) ? errno : 0;
  std::fclose(f);
  if (err) throw FileError(path + ": cannot read: " + std::strerror(err));
  return bytes;
}

// Returns the version.
uint32_t read_header(Cursor& in) {
  const uint8_t* magic = in.take(4, "magic");
  if (std::memcmp(magic, kMagic, 4) != 0) {
    char hex[16];
    std::snprintf(hex, sizeof hex, "%02x%02x%02x%02x", magic[0], magic[1], magic[2], magic[3]);
    in.fail(std::string("bad magic 0x") + hex + " (expected 'GNIE'): not a genie tensor file");
  }
  uint32_t version = in.u32("version");
  if (version != kVersion && version != kVersionPlain)
    in.fail("unsupported version " + std::to_string(version) + " (expected " +
            std::to_string(kVersionPlain) + " or " + std::to_string(kVersion) + ")");
  return version;
}

void read_metadata(Cursor& in, TensorFile& file) {
  uint32_t count = in.u32("metadata count");
  if (count > kMaxMetadata)
    in.fail("metadata count " + std::to_string(count) + " exceeds the limit " +
            std::to_string(kMaxMetadata));
  std::set<std::string> seen;
  for (uint32_t i = 0; i < count; ++i) {
    std::string key = in.text("metadata entry " + std::to_string(i) + " key", 0, kMaxMetaBytes);
    std::string value = in.text("metadata " + quoted(key) + " value", 0, kMaxMetaBytes);
    if (!seen.insert(key).second) in.fail("duplicate metadata key " + quoted(key));
    file.metadata.emplace_back(std::move(key), std::move(value));
  }
}

Shape read_shape(Cursor& in, const std::string& what, uint64_t* count) {
  int ndim = in.u8(what + " ndim");
  if (ndim > kMaxDims)
    in.fail(what + " ndim " + std::to_string(ndim) + " exceeds " + std::to_string(kMaxDims));
  Shape shape(ndim);
  bool any_zero = false;
  for (int d = 0; d < ndim; ++d) {
    uint32_t dim = in.u32(what + " dim " + std::to_string(d));
    if (dim > INT_MAX)
      in.fail(what + " dim " + std::to_string(d) + " is " + std::to_string(dim) +
              ", above the limit " + std::to_string(INT_MAX));
    shape[d] = static_cast<int>(dim);
    any_zero |= dim == 0;
  }
  // The product of the non-zero dimensions must fit too: a zero dimension makes the count 0,
  // but the engine multiplies dimensions in order, so (2^31-1, 2^31-1, 2^31-1, 0) would
  // overflow there before reaching the 0.
  uint64_t product = 1;
  for (int d = 0; d < ndim; ++d) {
    if (shape[d] == 0) continue;
    if (product > static_cast<uint64_t>(INT64_MAX) / shape[d])
      in.fail(what + " element count of shape " + shape_str(shape) + " overflows");
    product *= shape[d];
  }
  *count = any_zero ? 0 : product;
  return shape;
}

std::vector<float> decode_floats(const uint8_t* p, uint64_t count) {
  std::vector<float> values(count);
  for (uint64_t i = 0; i < count; ++i, p += 4) {
    uint32_t u = p[0] | p[1] << 8 | p[2] << 16 | static_cast<uint32_t>(p[3]) << 24;
    std::memcpy(&values[i], &u, 4);
  }
  return values;
}

// Bytes of a tensor's data on disk, failing when the count overflows 64 bits.
uint64_t data_bytes(Cursor& in, const std::string& what, uint64_t count, int bits) {
  uint64_t bytes = 0;
  bool fits = bits == 32 ? count <= UINT64_MAX / 4 : packed_bytes(count, bits, &bytes);
  if (!fits) in.fail(what + " element count " + std::to_string(count) + " overflows");
  return bits == 32 ? 4 * count : bytes;
}

// `checksummed`: the tensor ends with the CRC32 of its bytes from its name on (version 2).
void read_tensor(Cursor& in, uint32_t index, bool checksummed, std::set<std::string>& names,
                 TensorFile& file) {
  size_t start = in.position();
  std::string name = in.text("tensor " + std::to_string(index) + " name", 1, kMaxNameBytes);
  if (!names.insert(name).second) in.fail("duplicate tensor name " + quoted(name));
  std::string what = "tensor " + quoted(name);
  uint8_t dtype = in.u8(what + " dtype");
  if (dtype != kFloat32 && dtype != kCodes)
    in.fail(what + " dtype " + std::to_string(dtype) + " is not 0 (float32) or 1 (codes)");
  int bits = in.u8(what + " bits");
  if (dtype == kFloat32 && bits != 32)
    in.fail(what + " bits " + std::to_string(bits) + " is illegal for float32 (must be 32)");
  if (dtype == kCodes && (bits < 1 || bits > 8))
    in.fail(what + " bits " + std::to_string(bits) + " is illegal for codes (must be 1..8)");
  uint64_t count;
  Shape shape = read_shape(in, what, &count);
  uint64_t bytes = data_bytes(in, what, count, bits);
  // The length check comes before any allocation: a shape can only claim bytes the file has.
  const uint8_t* data = in.take(bytes, what + ": data");
  if (checksummed) in.check_crc(start, what);
  if (dtype == kFloat32) {
    file.tensors.emplace_back(std::move(name),
                              Tensor(std::move(shape), decode_floats(data, count)));
    return;
  }
  // Unused high bits of the last byte must be zero, so each file has one encoding.
  int used = static_cast<int>((count * bits) % 8);
  if (used != 0 && (data[bytes - 1] >> used) != 0)
    in.fail(what + ": unused bits of the last code byte are not zero");
  CodeTensor code{std::move(shape), bits, unpack_codes(data, count, bits)};
  file.codes.emplace_back(std::move(name), std::move(code));
}

// ---- writing ----

void put_u32(std::vector<uint8_t>& out, uint32_t v) {
  for (int k = 0; k < 4; ++k) out.push_back(static_cast<uint8_t>(v >> (8 * k)));
}

void put_text(std::vector<uint8_t>& out, const std::string& s) {
  put_u32(out, static_cast<uint32_t>(s.size()));
  out.insert(out.end(), s.begin(), s.end());
}

void put_shape(std::vector<uint8_t>& out, uint8_t dtype, int bits, const Shape& shape) {
  out.push_back(dtype);
  out.push_back(static_cast<uint8_t>(bits));
  out.push_back(static_cast<uint8_t>(shape.size()));
  for (int d : shape) put_u32(out, static_cast<uint32_t>(d));
}

// The checks the reader makes, applied before writing, naming the offending entry.
void check_writable(const std::string& path, const TensorFile& file) {
  auto fail = [&](const std::string& what) { throw FileError(path + ": cannot write: " + what); };
  if (file.metadata.size() > kMaxMetadata)
    fail(std::to_string(file.metadata.size()) + " metadata entries exceed the limit " +
         std::to_string(kMaxMetadata));
  std::set<std::string> keys;
  for (const auto& [key, value] : file.metadata) {
    if (key.size() > kMaxMetaBytes || value.size() > kMaxMetaBytes)
      fail("metadata " + quoted(key.substr(0, 64)) + " is longer than 1 MiB");
    if (!valid_utf8(key) || !valid_utf8(value))
      fail("metadata " + quoted(key) + " is not valid UTF-8");
    if (!keys.insert(key).second) fail("duplicate metadata key " + quoted(key));
  }
  if (file.tensors.size() + file.codes.size() > kMaxTensors)
    fail(std::to_string(file.tensors.size() + file.codes.size()) + " tensors exceed the limit " +
         std::to_string(kMaxTensors));
  std::set<std::string> names;
  auto check_name = [&](const std::string& name, const Shape& shape) {
    if (name.empty() || name.size() > kMaxNameBytes)
      fail("tensor name " + quoted(name.substr(0, 64)) + " is not 1..1024 bytes");
    if (!valid_utf8(name)) fail("tensor name " + quoted(name) + " is not valid UTF-8");
    if (!names.insert(name).second) fail("duplicate tensor name " + quoted(name));
    if (shape.size() > static_cast<size_t>(kMaxDims))
      fail("tensor " + quoted(name) + " of shape " + shape_str(shape) + " has more than 8 dims");
  };
  for (const auto& [name, t] : file.tensors) {
    if (!t.defined()) fail("tensor " + quoted(name) + " is undefined");
    check_name(name, t.shape());
  }
  for (const auto& [name, c] : file.codes) {
    check_name(name, c.shape);
    if (c.bits < 1 || c.bits > 8)
      fail("tensor " + quoted(name) + " bits " + std::to_string(c.bits) + " is not 1..8");
    if (static_cast<int64_t>(c.codes.size()) != numel_of(c.shape))
      fail("tensor " + quoted(name) + " has " + std::to_string(c.codes.size()) +
           " codes for shape " + shape_str(c.shape));
    for (uint8_t v : c.codes)
      if (v >> c.bits)
        fail("tensor " + quoted(name) + " code " + std::to_string(v) + " does not fit " +
             std::to_string(c.bits) + " bits");
  }
}

void put_crc(std::vector<uint8_t>& out, size_t start) {
  put_u32(out, crc_of(out.data() + start, out.size() - start));
}

std::vector<uint8_t> serialize(const TensorFile& file) {
  std::vector<uint8_t> out(kMagic, kMagic + 4);
  put_u32(out, kVersion);
  put_u32(out, static_cast<uint32_t>(file.metadata.size()));
  for (const auto& [key, value] : file.metadata) {
    put_text(out, key);
    put_text(out, value);
  }
  put_u32(out, static_cast<uint32_t>(file.tensors.size() + file.codes.size()));
  put_crc(out, 0);
  for (const auto& [name, t] : file.tensors) {
    size_t start = out.size();
    put_text(out, name);
    put_shape(out, kFloat32, 32, t.shape());
    for (float v : t.values()) {
      uint32_t u;
      std::memcpy(&u, &v, 4);
      put_u32(out, u);
    }
    put_crc(out, start);
  }
  for (const auto& [name, c] : file.codes) {
    size_t start = out.size();
    put_text(out, name);
    put_shape(out, kCodes, c.bits, c.shape);
    std::vector<uint8_t> packed = pack_codes(c.codes, c.bits);
    out.insert(out.end(), packed.begin(), packed.end());
    put_crc(out, start);
  }
  return out;
}

// Creates a temporary file next to `path` that did not exist before: O_EXCL refuses any
// existing name, a symlink planted there included, so nothing is ever written through a link.
// Returns the descriptor (and the name in `tmp`), or -1 with errno set.
int create_temporary(const std::string& path, std::string* tmp) {
  static std::mt19937_64 names{std::random_device{}() ^ static_cast<uint64_t>(getpid())};
  static const char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  for (int attempt = 0; attempt < 100; ++attempt) {
    *tmp = path + ".tmp.";
    for (int k = 0; k < 8; ++k) tmp->push_back(kAlphabet[names() % (sizeof kAlphabet - 1)]);
    int fd = open(tmp->c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd >= 0 || errno != EEXIST) return fd;
  }
  return -1;
}

// Writes all bytes and flushes them to the disk; returns 0 or the errno of the first failure.
int write_all(int fd, const std::vector<uint8_t>& bytes) {
  for (size_t done = 0; done < bytes.size();) {
    ssize_t n = write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    done += static_cast<size_t>(n);
  }
  return fsync(fd) == 0 ? 0 : errno;
}

// The rename is only durable once the directory entry is on disk too. Best effort: a
// directory that cannot be opened for syncing still holds the complete file.
void sync_directory_of(const std::string& path) {
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  fsync(fd);
  close(fd);
}

}  // namespace

const std::string* TensorFile::meta(const std::string& key) const {
  for (const auto& [k, v] : metadata)
    if (k == key) return &v;
  return nullptr;
}

const Tensor* TensorFile::tensor(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return &t;
  return nullptr;
}

const CodeTensor* TensorFile::code(const std::string& name) const {
  for (const auto& [n, c] : codes)
    if (n == name) return &c;
  return nullptr;
}

void TensorFile::set_meta(const std::string& key, const std::string& value) {
  for (auto& [k, v] : metadata)
    if (k == key) {
      v = value;
      return;
    }
  metadata.emplace_back(key, value);
}

TensorFile read_tensor_file(const std::string& path) {
  std::vector<uint8_t> bytes = slurp(path);
  return parse_tensor_file(bytes, path);
}

TensorFile parse_tensor_file(const std::vector<uint8_t>& bytes, const std::string& origin) {
  Cursor in(origin, bytes);
  TensorFile file;
  bool checksummed = read_header(in) == kVersion;
  read_metadata(in, file);
  uint32_t count = in.u32("tensor count");
  if (checksummed) in.check_crc(0, "header and metadata");
  if (count > kMaxTensors)
    in.fail("tensor count " + std::to_string(count) + " exceeds the limit " +
            std::to_string(kMaxTensors));
  std::set<std::string> names;
  for (uint32_t i = 0; i < count; ++i) read_tensor(in, i, checksummed, names, file);
  if (in.remaining() != 0)
    in.fail(std::to_string(in.remaining()) + " trailing bytes after the last tensor");
  return file;
}

void write_tensor_file(const std::string& path, const TensorFile& file) {
  check_writable(path, file);
  write_file_atomically(path, serialize(file));
}

void write_file_atomically(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::string tmp;
  int fd = create_temporary(path, &tmp);
  if (fd < 0) throw FileError(path + ": cannot write: " + std::strerror(errno));
  int err = write_all(fd, bytes);
  if (close(fd) != 0 && err == 0) err = errno;
  if (err == 0 && std::rename(tmp.c_str(), path.c_str()) != 0) err = errno;
  if (err != 0) {
    unlink(tmp.c_str());
    throw FileError(path + ": cannot write: " + std::strerror(err));
  }
  sync_directory_of(path);
}

}  // namespace engine
