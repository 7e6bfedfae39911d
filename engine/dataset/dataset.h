// Image classification datasets: Fashion-MNIST (IDX files), CIFAR-10 (binary batches) and
// ImageFolder trees (one subfolder per class), all delivered at the size the model takes.
//
// Shape legend: n images in a batch, C channels and S pixels a side as the model takes them,
// so a batch is (n, C, S, S) with pixel values in [0, 1].
//
// Pixels stay as stored bytes (in memory for IDX and CIFAR, on disk for folders) until a batch
// is asked for, so a 60000-image training set costs 47 MB rather than 188 MB of floats.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/rng.h"
#include "engine/tensor.h"

namespace engine {

// What the model takes: C and S for (C, S, S). C is 1 or 3.
struct ImageSpec {
  int channels;
  int size;
};

struct Batch {
  Tensor images;            // (n, C, S, S), values in [0, 1]
  std::vector<int> labels;  // (n) class indices
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  virtual int num_classes() const = 0;
  // The images at `indices`, in that order; throws std::invalid_argument for an index outside
  // [0, size()).
  virtual Batch load(const std::vector<int64_t>& indices) const = 0;
  // e.g. "fashion-mnist test (10000 images, /usr/share/datasets/fashion-mnist)"
  virtual std::string describe() const = 0;
  // What is done to the stored images to fit the model, in one line; empty when nothing is.
  virtual std::string transform() const { return ""; }
};

// Prints "data: <transform>" to stderr when the images are changed to fit the model: a silent
// pad or resize can cost points (a 28x28 model converted as 32x32 loses two).
void say_transform(const Dataset& data);

enum class Split { Train, Test };

// SPEC is one of
//   fashion-mnist        the Debian package's files in /usr/share/datasets/fashion-mnist
//   fashion-mnist:DIR    train-/t10k-{images-idx3,labels-idx1}-ubyte, gzipped (.gz) or plain
//   cifar10:DIR          data_batch_1..5.bin (Train) or test_batch.bin (Test), in DIR or in
//                        DIR/cifar-10-batches-bin
//   folder:DIR           DIR/<class>/<image>.{jpg,jpeg,png}; classes in sorted name order.
//                        A folder holds one split, so `split` is ignored.
// Fashion-MNIST (28x28) and CIFAR-10 (32x32) images whose size differs from S are zero-padded
// or cropped centrally, never resampled, so stored pixel values reach the model unchanged.
// Gray Fashion-MNIST is replicated into 3 channels; CIFAR-10 into 1 channel is refused.
// Folder images are resized (shorter side to S*256/224, the ImageNet 256->224 convention) and
// centre-cropped to SxS.
// Throws std::invalid_argument for an unknown SPEC or a bad ImageSpec, and std::runtime_error
// naming the path when the files are missing, empty or malformed.
std::unique_ptr<Dataset> open_dataset(const std::string& spec, const ImageSpec& image, Split split);

// Training augmentation, in place on a host batch (n, C, S, S) of pixels in [0, 1]: per image, a
// random crop after zero padding by `padding` pixels (torchvision's RandomCrop(padding)) and, when
// `flip`, a horizontal flip with probability 1/2; draws from rng in image order.
void augment(Tensor& images, int padding, bool flip, Rng& rng);

// In place, per channel c of (n, C, S, S): x = (x - mean[c]) / std[c]. Not differentiated:
// it prepares inputs.
void normalize(Tensor& images, const std::vector<float>& mean, const std::vector<float>& std);

// The loaders behind open_dataset.

// Images read whole into memory: `pixels` holds count x (channels, height, width) bytes.
struct RawImages {
  int channels = 0;
  int height = 0;
  int width = 0;
  int num_classes = 0;
  std::vector<uint8_t> pixels;
  std::vector<int> labels;  // (count) in [0, num_classes)
  std::string directory;    // where the files were found, for describe()
};

// Images already in memory (a loader's, or synthetic ones for a benchmark) as a Dataset named
// `name`, placed in the model's frame as Fashion-MNIST and CIFAR-10 are. Throws
// std::invalid_argument for a bad ImageSpec or colour images for a 1-channel model.
std::unique_ptr<Dataset> in_memory_dataset(const std::string& name, RawImages raw,
                                           const ImageSpec& image);

RawImages read_fashion_mnist(const std::string& directory, Split split);
RawImages read_cifar10(const std::string& directory, Split split);
std::unique_ptr<Dataset> open_image_folder(const std::string& directory, const ImageSpec& image);

// Throws std::invalid_argument naming the first index outside [0, size).
void check_indices(const std::vector<int64_t>& indices, int64_t size);

}  // namespace engine
