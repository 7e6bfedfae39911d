// CIFAR-10 binary batches into memory as bytes.
//
// Each record is 1 label byte then a (3, 32, 32) image, channel-major (all red, green, blue).
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "engine/dataset/dataset.h"

namespace engine {

namespace {

namespace fs = std::filesystem;

constexpr int kChannels = 3;
constexpr int kSide = 32;
constexpr int kClasses = 10;
constexpr int64_t kImageBytes = int64_t{kChannels} * kSide * kSide;
constexpr int64_t kRecordBytes = 1 + kImageBytes;

std::vector<std::string> batch_names(Split split) {
  if (split == Split::Test) return {"test_batch.bin"};
  std::vector<std::string> names;
  for (int i = 1; i <= 5; ++i) names.push_back("data_batch_" + std::to_string(i) + ".bin");
  return names;
}

// DIR itself, or the cifar-10-batches-bin folder the official archive unpacks to.
fs::path find_batches(const std::string& directory, const std::string& first_batch) {
  fs::path nested = fs::path(directory) / "cifar-10-batches-bin";
  for (const fs::path& candidate : {fs::path(directory), nested})
    if (fs::is_regular_file(candidate / first_batch)) return candidate;
  throw std::runtime_error("no CIFAR-10 " + first_batch + " in " + directory + " or " +
                           nested.string() +
                           "; expected the binary version (cifar-10-binary.tar.gz) unpacked there");
}

void append_batch(const fs::path& path, RawImages& raw) {
  if (!fs::is_regular_file(path))
    throw std::runtime_error("missing CIFAR-10 batch " + path.string());
  int64_t bytes = static_cast<int64_t>(fs::file_size(path));
  if (bytes == 0 || bytes % kRecordBytes != 0)
    throw std::runtime_error(path.string() + " has " + std::to_string(bytes) +
                             " bytes; expected a positive multiple of " +
                             std::to_string(kRecordBytes) + " (1 label + 3x32x32 pixels)");
  std::ifstream in(path, std::ios::binary);
  std::vector<char> record(kRecordBytes);
  for (int64_t r = 0; r < bytes / kRecordBytes; ++r) {
    if (!in.read(record.data(), kRecordBytes))
      throw std::runtime_error("cannot read " + path.string());
    int label = static_cast<uint8_t>(record[0]);
    if (label >= kClasses)
      throw std::runtime_error(path.string() + " record " + std::to_string(r) + " has label " +
                               std::to_string(label) + ", expected 0.." +
                               std::to_string(kClasses - 1));
    raw.labels.push_back(label);
    raw.pixels.insert(raw.pixels.end(), record.begin() + 1, record.end());
  }
}

}  // namespace

RawImages read_cifar10(const std::string& directory, Split split) {
  std::vector<std::string> names = batch_names(split);
  fs::path found = find_batches(directory, names[0]);
  RawImages raw;
  raw.channels = kChannels;
  raw.height = kSide;
  raw.width = kSide;
  raw.num_classes = kClasses;
  raw.directory = found.string();
  for (const std::string& name : names) append_batch(found / name, raw);
  return raw;
}

}  // namespace engine
