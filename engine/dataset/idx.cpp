// Fashion-MNIST in IDX files, gzipped or plain (zlib reads both), into memory as bytes.
//
// Layout, big-endian: images are magic 0x00000803, count, rows, cols, then count x (rows, cols)
// bytes; labels are magic 0x00000801, count, then count bytes.
#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include "engine/dataset/dataset.h"

namespace engine {

namespace {

constexpr uint32_t kImagesMagic = 0x00000803;
constexpr uint32_t kLabelsMagic = 0x00000801;
constexpr int kClasses = 10;
const char* kInstallHint = "install it with: apt-get install dataset-fashion-mnist";

class GzFile {
 public:
  explicit GzFile(const std::string& path) : path_(path), file_(gzopen(path.c_str(), "rb")) {
    if (!file_) throw std::runtime_error("cannot open " + path + "; " + kInstallHint);
  }
  ~GzFile() { gzclose(file_); }
  GzFile(const GzFile&) = delete;
  GzFile& operator=(const GzFile&) = delete;

  // Grows the result only as bytes arrive, so a corrupt header cannot demand a huge buffer.
  std::vector<uint8_t> read(int64_t want) {
    constexpr int64_t kChunk = 1 << 20;
    std::vector<uint8_t> bytes;
    while (static_cast<int64_t>(bytes.size()) < want) {
      int64_t have = static_cast<int64_t>(bytes.size());
      int64_t step = std::min(kChunk, want - have);
      bytes.resize(have + step);
      int got = gzread(file_, bytes.data() + have, static_cast<unsigned>(step));
      if (got < 0) throw std::runtime_error(path_ + " is corrupt: " + error());
      bytes.resize(have + got);
      if (got == 0) break;
    }
    return bytes;
  }

  void expect_end() {
    if (!read(1).empty()) throw std::runtime_error(path_ + " is longer than its IDX header says");
  }

  std::vector<uint32_t> header(int fields) {
    std::vector<uint8_t> bytes = read(4 * fields);
    if (static_cast<int>(bytes.size()) != 4 * fields)
      throw std::runtime_error(path_ + " is too short for an IDX header");
    std::vector<uint32_t> values(fields);
    for (int i = 0; i < fields; ++i)
      values[i] = uint32_t{bytes[4 * i]} << 24 | uint32_t{bytes[4 * i + 1]} << 16 |
                  uint32_t{bytes[4 * i + 2]} << 8 | uint32_t{bytes[4 * i + 3]};
    return values;
  }

  const std::string& path() const { return path_; }

 private:
  std::string error() {
    int code = 0;
    return gzerror(file_, &code);
  }

  std::string path_;
  gzFile file_;
};

// NAME.gz if present, else NAME.
std::string find_file(const std::string& directory, const std::string& name) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(directory))
    throw std::runtime_error("no Fashion-MNIST directory " + directory + "; " + kInstallHint);
  for (const std::string& candidate : {name + ".gz", name}) {
    fs::path path = fs::path(directory) / candidate;
    if (fs::is_regular_file(path)) return path.string();
  }
  throw std::runtime_error("no " + name + "(.gz) in " + directory + "; " + kInstallHint);
}

void check_magic(const GzFile& file, uint32_t magic, uint32_t expected) {
  if (magic != expected)
    throw std::runtime_error(file.path() + " has IDX magic " + std::to_string(magic) +
                             ", expected " + std::to_string(expected));
}

}  // namespace

RawImages read_fashion_mnist(const std::string& directory, Split split) {
  std::string prefix = split == Split::Train ? "train" : "t10k";
  GzFile images(find_file(directory, prefix + "-images-idx3-ubyte"));
  GzFile labels(find_file(directory, prefix + "-labels-idx1-ubyte"));

  std::vector<uint32_t> image_header = images.header(4);
  check_magic(images, image_header[0], kImagesMagic);
  uint32_t count = image_header[1], rows = image_header[2], cols = image_header[3];
  if (count == 0 || rows == 0 || cols == 0 || rows > 4096 || cols > 4096)
    throw std::runtime_error(images.path() + " holds " + std::to_string(count) + " images of " +
                             std::to_string(rows) + "x" + std::to_string(cols) +
                             "; expected at least one image of at most 4096x4096");
  std::vector<uint32_t> label_header = labels.header(2);
  check_magic(labels, label_header[0], kLabelsMagic);
  if (label_header[1] != count)
    throw std::runtime_error(labels.path() + " holds " + std::to_string(label_header[1]) +
                             " labels but " + images.path() + " holds " + std::to_string(count) +
                             " images");

  RawImages raw;
  raw.channels = 1;
  raw.height = static_cast<int>(rows);
  raw.width = static_cast<int>(cols);
  raw.num_classes = kClasses;
  raw.directory = directory;
  int64_t pixel_bytes = int64_t{count} * rows * cols;
  raw.pixels = images.read(pixel_bytes);
  if (static_cast<int64_t>(raw.pixels.size()) != pixel_bytes)
    throw std::runtime_error(images.path() + " is truncated: expected " + std::to_string(count) +
                             " images of " + std::to_string(rows) + "x" + std::to_string(cols));
  images.expect_end();
  std::vector<uint8_t> label_bytes = labels.read(count);
  if (label_bytes.size() != count)
    throw std::runtime_error(labels.path() + " is truncated: expected " + std::to_string(count) +
                             " labels");
  labels.expect_end();
  for (uint8_t label : label_bytes) {
    if (label >= kClasses)
      throw std::runtime_error(labels.path() + " has label " + std::to_string(label) +
                               ", expected 0.." + std::to_string(kClasses - 1));
    raw.labels.push_back(label);
  }
  return raw;
}

}  // namespace engine
