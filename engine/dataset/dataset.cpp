// Dataset specs, the in-memory dataset behind Fashion-MNIST and CIFAR-10, and normalisation.
//
// Shape legend: n images, C model channels, S model size; stored images are (Cs, H, W) bytes.
#include "engine/dataset/dataset.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

namespace engine {

namespace {

const char* kDefaultFashionMnist = "/usr/share/datasets/fashion-mnist";
const char* kAcceptedSpecs =
    "expected one of: fashion-mnist, fashion-mnist:DIR, cifar10:DIR, folder:DIR";

// Stored images placed centrally in the model's SxS frame: zero-padded where S is larger,
// cropped where it is smaller. Resampling would blur the few pixels these small images have.
class InMemoryDataset : public Dataset {
 public:
  InMemoryDataset(std::string name, RawImages raw, const ImageSpec& image)
      : name_(std::move(name)), raw_(std::move(raw)), image_(image) {}

  int64_t size() const override { return static_cast<int64_t>(raw_.labels.size()); }
  int num_classes() const override { return raw_.num_classes; }

  std::string describe() const override {
    return name_ + " (" + std::to_string(size()) + " images, " + raw_.directory + ")";
  }

  std::string transform() const override {
    const int H = raw_.height, W = raw_.width, S = image_.size;
    std::vector<std::string> done;
    if (H != S || W != S)
      done.push_back(std::string(S > H ? "zero-padded" : "cropped") + " centrally to " +
                     std::to_string(S) + "x" + std::to_string(S) +
                     ", never resampled (a model trained at " + std::to_string(H) + "x" +
                     std::to_string(W) + " takes --input-size " + std::to_string(H) +
                     " when converted)");
    if (raw_.channels != image_.channels) done.push_back("the gray channel feeds all 3");
    if (done.empty()) return "";
    std::string line = name_ + " images are " + std::to_string(H) + "x" + std::to_string(W) + "x" +
                       std::to_string(raw_.channels) + ", the model takes " + std::to_string(S) +
                       "x" + std::to_string(S) + "x" + std::to_string(image_.channels) + ": ";
    for (size_t i = 0; i < done.size(); ++i) line += (i ? "; " : "") + done[i];
    return line;
  }

  Batch load(const std::vector<int64_t>& indices) const override {
    check_indices(indices, size());
    int n = static_cast<int>(indices.size());
    int64_t frame = static_cast<int64_t>(image_.channels) * image_.size * image_.size;
    Batch batch{Tensor({n, image_.channels, image_.size, image_.size}), {}};
    for (int i = 0; i < n; ++i) {
      place(batch.images.data() + i * frame, indices[i]);
      batch.labels.push_back(raw_.labels[indices[i]]);
    }
    return batch;
  }

 private:
  // out: (C, S, S) zeros on entry.
  void place(float* out, int64_t index) const {
    int H = raw_.height, W = raw_.width, S = image_.size;
    int64_t stored = static_cast<int64_t>(raw_.channels) * H * W;
    const uint8_t* src = raw_.pixels.data() + index * stored;
    int top = (S - H) / 2, left = (S - W) / 2;
    for (int c = 0; c < image_.channels; ++c) {
      // A gray image feeds every channel of a colour model.
      const uint8_t* plane = src + static_cast<int64_t>(raw_.channels == 1 ? 0 : c) * H * W;
      for (int y = 0; y < S; ++y) {
        int sy = y - top;
        if (sy < 0 || sy >= H) continue;
        for (int x = 0; x < S; ++x) {
          int sx = x - left;
          if (sx < 0 || sx >= W) continue;
          out[(static_cast<int64_t>(c) * S + y) * S + x] = plane[sy * W + sx] / 255.0f;
        }
      }
    }
  }

  std::string name_;
  RawImages raw_;
  ImageSpec image_;
};

const char* split_name(Split split) { return split == Split::Train ? "train" : "test"; }

void check_image_spec(const ImageSpec& image) {
  if ((image.channels != 1 && image.channels != 3) || image.size < 1)
    throw std::invalid_argument("a model image must have 1 or 3 channels and size >= 1, got (" +
                                std::to_string(image.channels) + ", " + std::to_string(image.size) +
                                ", " + std::to_string(image.size) + ")");
}

}  // namespace

std::unique_ptr<Dataset> in_memory_dataset(const std::string& name, RawImages raw,
                                           const ImageSpec& image) {
  check_image_spec(image);
  if (raw.channels == 3 && image.channels == 1)
    throw std::invalid_argument(name + " images have 3 colour channels but the model takes 1; " +
                                "use a model with 3 input channels");
  return std::make_unique<InMemoryDataset>(name, std::move(raw), image);
}

std::unique_ptr<Dataset> open_dataset(const std::string& spec, const ImageSpec& image,
                                      Split split) {
  check_image_spec(image);
  size_t colon = spec.find(':');
  std::string kind = spec.substr(0, colon);
  std::string directory = colon == std::string::npos ? "" : spec.substr(colon + 1);
  if (kind == "fashion-mnist" && colon == std::string::npos) directory = kDefaultFashionMnist;
  if (directory.empty())
    throw std::invalid_argument("dataset '" + spec + "' names no directory; " + kAcceptedSpecs);
  if (kind == "fashion-mnist")
    return in_memory_dataset(kind + " " + split_name(split), read_fashion_mnist(directory, split),
                             image);
  if (kind == "cifar10")
    return in_memory_dataset(kind + " " + split_name(split), read_cifar10(directory, split), image);
  if (kind == "folder") return open_image_folder(directory, image);
  throw std::invalid_argument("unknown dataset '" + spec + "'; " + kAcceptedSpecs);
}

void say_transform(const Dataset& data) {
  std::string t = data.transform();
  if (!t.empty()) std::fprintf(stderr, "data: %s\n", t.c_str());
}

// One shifted, maybe mirrored plane at a time, through a scratch plane.
void augment(Tensor& x, int padding, bool flip, Rng& rng) {
  int n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  std::vector<float> plane(static_cast<size_t>(h) * w);
  for (int i = 0; i < n; ++i) {
    int dy = rng.integer(2 * padding + 1) - padding;
    int dx = rng.integer(2 * padding + 1) - padding;
    bool mirror = flip && rng.uniform() < 0.5f;
    for (int ch = 0; ch < c; ++ch) {
      float* p = x.data() + (static_cast<size_t>(i) * c + ch) * h * w;
      for (int y = 0; y < h; ++y)
        for (int xx = 0; xx < w; ++xx) {
          int sy = y + dy, sx = (mirror ? w - 1 - xx : xx) + dx;
          bool inside = sy >= 0 && sy < h && sx >= 0 && sx < w;
          plane[y * w + xx] = inside ? p[sy * w + sx] : 0.0f;
        }
      std::copy(plane.begin(), plane.end(), p);
    }
  }
}

void normalize(Tensor& images, const std::vector<float>& mean, const std::vector<float>& std) {
  if (images.ndim() != 4 || mean.size() != static_cast<size_t>(images.size(1)) ||
      std.size() != mean.size())
    throw std::invalid_argument("normalize of images " + shape_str(images.shape()) + " given " +
                                std::to_string(mean.size()) + " means and " +
                                std::to_string(std.size()) +
                                " stds; expected (n, C, H, W) and C of each");
  for (float s : std)
    if (!(s > 0.0f))
      throw std::invalid_argument("normalize given a std <= 0: " + std::to_string(s));
  int n = images.size(0), C = images.size(1);
  int64_t plane = static_cast<int64_t>(images.size(2)) * images.size(3);
  float* x = images.data();
  for (int i = 0; i < n; ++i)
    for (int c = 0; c < C; ++c) {
      float* p = x + (static_cast<int64_t>(i) * C + c) * plane;
      for (int64_t k = 0; k < plane; ++k) p[k] = (p[k] - mean[c]) / std[c];
    }
}

void check_indices(const std::vector<int64_t>& indices, int64_t size) {
  for (int64_t index : indices)
    if (index < 0 || index >= size)
      throw std::invalid_argument("image index " + std::to_string(index) +
                                  " outside a dataset of " + std::to_string(size) + " images");
}

}  // namespace engine
