// ImageFolder datasets: DIR/<class>/<image>.{jpg,jpeg,png}, decoded with stb_image per batch.
//
// Shape legend: n images, C channels, S model size; a decoded file is (h, w, C) bytes.
// Class index is the position of the folder name in sorted order, and images within a class
// are sorted by name, so an index means the same file on every run and machine. Hidden folders
// (".name") are not classes. An image that fails to decode is an error naming it: standing in
// a black image would quietly change every accuracy measured on the folder.
//
// A few header bytes can declare billions of pixels, so sizes are checked from the header
// (stbi_info) before anything is decoded or resized.
#include <stb_image.h>
#include <stb_image_resize.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <exception>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <utility>

#include "engine/dataset/dataset.h"

namespace engine {

namespace {

namespace fs = std::filesystem;

// Decoded and resized images are capped at this many pixels (8192 x 8192), far above any
// photograph a classifier is evaluated on.
constexpr double kMaxPixels = 8192.0 * 8192.0;

struct Entry {
  std::string path;
  int label;
};

bool is_image(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

std::vector<std::string> sorted_names(const fs::path& directory, bool want_directories) {
  std::vector<std::string> names;
  for (const fs::directory_entry& entry : fs::directory_iterator(directory)) {
    std::string name = entry.path().filename().string();
    if (want_directories ? entry.is_directory() && name[0] != '.'
                         : entry.is_regular_file() && is_image(entry.path()))
      names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

// The ImageNet convention: resize the shorter side to S*256/224 (256 for 224, 37 for 32),
// then centre-crop SxS.
int shorter_side(int S) { return static_cast<int>(std::lround(S * 256.0 / 224.0)); }

// The size of (w, h) after resizing, in double so that it cannot overflow before it is checked.
std::pair<double, double> resized_size(int w, int h, int S) {
  if (w == S && h == S) return {w, h};
  int shorter = shorter_side(S);
  double scale = static_cast<double>(shorter) / std::min(w, h);
  return {std::max<double>(shorter, std::round(w * scale)),
          std::max<double>(shorter, std::round(h * scale))};
}

// Writes out (C, S, S) from pixels (h, w, C) whose resized size was checked; false if resizing
// fails.
bool resize_and_crop(const uint8_t* pixels, int w, int h, int C, int S, float* out) {
  auto [resized_w, resized_h] = resized_size(w, h, S);
  int rw = static_cast<int>(resized_w), rh = static_cast<int>(resized_h);
  std::vector<uint8_t> resized;
  if (w != S || h != S) {
    resized.resize(static_cast<size_t>(rw) * rh * C);
    if (!stbir_resize_uint8(pixels, w, h, 0, resized.data(), rw, rh, 0, C)) return false;
    pixels = resized.data();
  }
  int left = (rw - S) / 2, top = (rh - S) / 2;
  for (int c = 0; c < C; ++c)
    for (int y = 0; y < S; ++y)
      for (int x = 0; x < S; ++x)
        out[(static_cast<int64_t>(c) * S + y) * S + x] =
            pixels[(static_cast<int64_t>(top + y) * rw + left + x) * C + c] / 255.0f;
  return true;
}

[[noreturn]] void refuse_image(const std::string& path, const std::string& reason) {
  throw std::runtime_error("image " + path + ": " + reason);
}

[[noreturn]] void refuse_undecodable(const std::string& path) {
  const char* reason = stbi_failure_reason();
  refuse_image(path, std::string("cannot decode (") + (reason ? reason : "unknown error") + ")");
}

// Refuses, from the header alone, an image whose decoded or resized pixels exceed the cap.
void check_image_size(const std::string& path, int S) {
  int w = 0, h = 0, stored_channels = 0;
  if (!stbi_info(path.c_str(), &w, &h, &stored_channels)) refuse_undecodable(path);
  auto [rw, rh] = resized_size(w, h, S);
  std::string declared = std::to_string(w) + "x" + std::to_string(h);
  if (static_cast<double>(w) * h > kMaxPixels || rw * rh > kMaxPixels)
    refuse_image(path, "declares " + declared + " pixels, which at model size " +
                           std::to_string(S) + " exceeds the limit of " +
                           std::to_string(static_cast<int64_t>(kMaxPixels)) + " pixels");
}

class ImageFolder : public Dataset {
 public:
  ImageFolder(std::string directory, std::vector<Entry> entries, int num_classes,
              const ImageSpec& image)
      : directory_(std::move(directory)),
        entries_(std::move(entries)),
        num_classes_(num_classes),
        image_(image) {}

  int64_t size() const override { return static_cast<int64_t>(entries_.size()); }
  int num_classes() const override { return num_classes_; }

  std::string describe() const override {
    return "folder (" + std::to_string(size()) + " images, " + std::to_string(num_classes_) +
           " classes, " + directory_ + ")";
  }

  std::string transform() const override {
    const int S = image_.size;
    return "folder images not already " + std::to_string(S) + "x" + std::to_string(S) +
           " are resized (shorter side to " + std::to_string(shorter_side(S)) +
           ") and centre-cropped to " + std::to_string(S) + "x" + std::to_string(S) + "x" +
           std::to_string(image_.channels);
  }

  Batch load(const std::vector<int64_t>& indices) const override {
    check_indices(indices, size());
    int n = static_cast<int>(indices.size());
    int C = image_.channels, S = image_.size;
    int64_t frame = static_cast<int64_t>(C) * S * S;
    Batch batch{Tensor({n, C, S, S}), std::vector<int>(n)};
    float* images = batch.images.data();
    // Exceptions may not leave an OpenMP region; the first one is rethrown after it.
    std::exception_ptr error;
#pragma omp parallel for schedule(dynamic)
    for (int i = 0; i < n; ++i) {
      try {
        const Entry& entry = entries_[indices[i]];
        batch.labels[i] = entry.label;
        decode(entry.path, images + i * frame);
      } catch (...) {
#pragma omp critical(image_folder_error)
        if (!error) error = std::current_exception();
      }
    }
    if (error) std::rethrow_exception(error);
    return batch;
  }

 private:
  // out: (C, S, S).
  void decode(const std::string& path, float* out) const {
    int C = image_.channels, S = image_.size;
    check_image_size(path, S);
    int w = 0, h = 0, stored_channels = 0;
    std::unique_ptr<stbi_uc, void (*)(void*)> pixels(
        stbi_load(path.c_str(), &w, &h, &stored_channels, C), stbi_image_free);
    if (!pixels) refuse_undecodable(path);
    if (!resize_and_crop(pixels.get(), w, h, C, S, out)) refuse_image(path, "resizing failed");
  }

  std::string directory_;
  std::vector<Entry> entries_;
  int num_classes_;
  ImageSpec image_;
};

}  // namespace

std::unique_ptr<Dataset> open_image_folder(const std::string& directory, const ImageSpec& image) {
  const std::string expected = "expected " + directory + "/<class>/<image>.{jpg,jpeg,png}";
  if (!fs::is_directory(directory))
    throw std::runtime_error("no image folder " + directory + "; " + expected);
  std::vector<std::string> classes = sorted_names(directory, true);
  if (classes.empty())
    throw std::runtime_error("no class folders in " + directory + "; " + expected);
  std::vector<Entry> entries;
  for (int label = 0; label < static_cast<int>(classes.size()); ++label) {
    fs::path class_dir = fs::path(directory) / classes[label];
    for (const std::string& name : sorted_names(class_dir, false))
      entries.push_back({(class_dir / name).string(), label});
  }
  if (entries.empty()) throw std::runtime_error("no images in " + directory + "; " + expected);
  return std::make_unique<ImageFolder>(directory, std::move(entries),
                                       static_cast<int>(classes.size()), image);
}

}  // namespace engine
