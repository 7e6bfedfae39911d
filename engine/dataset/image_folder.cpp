// ImageFolder datasets: DIR/<class>/<image>.{jpg,jpeg,png}, decoded with stb_image per batch.
//
// Shape legend: n images, C channels, S model size; a decoded file is (h, w, C) bytes.
// Class index is the position of the folder name in sorted order, and images within a class
// are sorted by name, so an index means the same file on every run and machine. Hidden folders
// (".name") are not classes. An image that fails to decode becomes a black image, warned about
// once, so one bad file costs one sample rather than the run.
#include <stb_image.h>
#include <stb_image_resize.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>

#include "engine/dataset/dataset.h"

namespace engine {

namespace {

namespace fs = std::filesystem;

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
// then centre-crop SxS. Writes out (C, S, S); false if resizing fails.
bool resize_and_crop(const uint8_t* pixels, int w, int h, int C, int S, float* out) {
  std::vector<uint8_t> resized;
  int rw = w, rh = h;
  if (w != S || h != S) {
    int shorter = static_cast<int>(std::lround(S * 256.0 / 224.0));
    double scale = static_cast<double>(shorter) / std::min(w, h);
    rw = std::max(shorter, static_cast<int>(std::lround(w * scale)));
    rh = std::max(shorter, static_cast<int>(std::lround(h * scale)));
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
  // out: (C, S, S) zeros on entry, left black when the file does not decode.
  void decode(const std::string& path, float* out) const {
    int C = image_.channels, S = image_.size;
    int w = 0, h = 0, stored_channels = 0;
    std::unique_ptr<stbi_uc, void (*)(void*)> pixels(
        stbi_load(path.c_str(), &w, &h, &stored_channels, C), stbi_image_free);
    if (!pixels) {
      report_unreadable(path, stbi_failure_reason());
      return;
    }
    if (!resize_and_crop(pixels.get(), w, h, C, S, out)) {
      std::fill(out, out + static_cast<int64_t>(C) * S * S, 0.0f);
      report_unreadable(path, "resize failed");
    }
  }

  void report_unreadable(const std::string& path, const char* reason) const {
    std::lock_guard<std::mutex> lock(warned_mutex_);
    if (!warned_.insert(path).second) return;
    count_unreadable();
    std::fprintf(stderr, "warning: cannot decode image %s (%s); using a black image\n",
                 path.c_str(), reason ? reason : "unknown error");
  }

  std::string directory_;
  std::vector<Entry> entries_;
  int num_classes_;
  ImageSpec image_;
  mutable std::mutex warned_mutex_;
  mutable std::set<std::string> warned_;
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
