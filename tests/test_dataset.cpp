// Dataset loaders on tiny files written at run time: IDX (gzipped and plain), CIFAR-10 batches,
// PNG folders; plus spec errors, normalisation and, when installed, the real Fashion-MNIST.
#include <doctest/doctest.h>
#include <stb_image_write.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/dataset/dataset.h"

namespace fs = std::filesystem;
using engine::Batch;
using engine::ImageSpec;
using engine::open_dataset;
using engine::Split;
using engine::Tensor;

namespace {

// A scratch directory removed when the test ends.
struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& name)
      : path(fs::temp_directory_path() / ("genie_test_" + name + "_" + std::to_string(getpid()))) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string str() const { return path.string(); }
};

void write_file(const fs::path& path, const std::vector<uint8_t>& bytes, bool gzip) {
  if (gzip) {
    gzFile f = gzopen(path.string().c_str(), "wb");
    REQUIRE(f != nullptr);
    REQUIRE(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) ==
            static_cast<int>(bytes.size()));
    gzclose(f);
  } else {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
}

std::vector<uint8_t> idx_bytes(uint32_t magic, const std::vector<uint32_t>& dims,
                               const std::vector<uint8_t>& body) {
  std::vector<uint8_t> bytes;
  auto put = [&](uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back((v >> shift) & 0xff);
  };
  put(magic);
  for (uint32_t d : dims) put(d);
  bytes.insert(bytes.end(), body.begin(), body.end());
  return bytes;
}

// Pixel k of image i in the fake IDX set.
uint8_t idx_pixel(int i, int k) { return static_cast<uint8_t>(i * 40 + k * 3); }

// `count` images of 4 rows x 5 cols with labels 9, 0, 1, ... under the test split's names.
void write_fashion(const fs::path& dir, int count, bool gzip) {
  std::vector<uint8_t> pixels, labels;
  for (int i = 0; i < count; ++i) {
    for (int k = 0; k < 20; ++k) pixels.push_back(idx_pixel(i, k));
    labels.push_back(static_cast<uint8_t>((i + 9) % 10));
  }
  std::string ext = gzip ? ".gz" : "";
  write_file(dir / ("t10k-images-idx3-ubyte" + ext),
             idx_bytes(0x803, {static_cast<uint32_t>(count), 4, 5}, pixels), gzip);
  write_file(dir / ("t10k-labels-idx1-ubyte" + ext),
             idx_bytes(0x801, {static_cast<uint32_t>(count)}, labels), gzip);
}

float at(const Tensor& t, int n, int c, int y, int x) {
  int C = t.size(1), H = t.size(2), W = t.size(3);
  return t.data()[((static_cast<int64_t>(n) * C + c) * H + y) * W + x];
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

uint8_t cifar_pixel(int record, int k) { return static_cast<uint8_t>(record * 7 + k); }

void write_cifar(const fs::path& path, int first_record, int count) {
  std::vector<uint8_t> bytes;
  for (int r = first_record; r < first_record + count; ++r) {
    bytes.push_back(static_cast<uint8_t>(r % 10));
    for (int k = 0; k < 3072; ++k) bytes.push_back(cifar_pixel(r, k));
  }
  write_file(path, bytes, false);
}

void write_png(const fs::path& path, int w, int h, int channels,
               const std::function<uint8_t(int x, int y, int c)>& value) {
  std::vector<uint8_t> pixels;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < channels; ++c) pixels.push_back(value(x, y, c));
  REQUIRE(stbi_write_png(path.string().c_str(), w, h, channels, pixels.data(), w * channels));
}

}  // namespace

TEST_CASE("a dataset says what it does to images that do not fit the model") {
  TempDir dir("transform");
  write_fashion(dir.path, 3, false);  // 4x5 gray images
  auto padded = open_dataset("fashion-mnist:" + dir.str(), ImageSpec{1, 5}, Split::Test);
  CHECK(padded->transform().find("fashion-mnist test images are 4x5x1, the model takes 5x5x1: "
                                 "zero-padded centrally to 5x5, never resampled") == 0);
  auto colour = open_dataset("fashion-mnist:" + dir.str(), ImageSpec{3, 3}, Split::Test);
  CHECK(colour->transform().find("cropped centrally to 3x3") != std::string::npos);
  CHECK(colour->transform().find("the gray channel feeds all 3") != std::string::npos);
  // The Debian package's 28x28 images fit the default model: nothing to say.
  CHECK(open_dataset("fashion-mnist", ImageSpec{1, 28}, Split::Test)->transform().empty());
  CHECK_FALSE(open_dataset("fashion-mnist", ImageSpec{1, 32}, Split::Test)->transform().empty());
}

TEST_CASE("fashion-mnist IDX: gzipped and plain files give the same pixels and labels") {
  for (bool gzip : {true, false}) {
    CAPTURE(gzip);
    TempDir dir("idx");
    write_fashion(dir.path, 3, gzip);
    auto data = open_dataset("fashion-mnist:" + dir.str(), ImageSpec{1, 5}, Split::Test);
    CHECK(data->size() == 3);
    CHECK(data->num_classes() == 10);
    CHECK(data->describe() == "fashion-mnist test (3 images, " + dir.str() + ")");
    Batch b = data->load({2, 0});
    CHECK(b.images.shape() == engine::Shape{2, 1, 5, 5});
    CHECK(b.labels == std::vector<int>{1, 9});
    // 4x5 in a 5x5 frame: rows padded from (5-4)/2 = 0, so row 4 is the zero pad.
    CHECK(at(b.images, 0, 0, 0, 0) == idx_pixel(2, 0) / 255.0f);
    CHECK(at(b.images, 0, 0, 3, 4) == idx_pixel(2, 19) / 255.0f);
    CHECK(at(b.images, 1, 0, 1, 2) == idx_pixel(0, 7) / 255.0f);
    CHECK(at(b.images, 1, 0, 4, 2) == 0.0f);
  }
}

TEST_CASE("fashion-mnist is zero-padded centrally, replicated to 3 channels, cropped when small") {
  TempDir dir("idx_pad");
  write_fashion(dir.path, 2, true);
  auto big = open_dataset("fashion-mnist:" + dir.str(), ImageSpec{3, 8}, Split::Test);
  Batch b = big->load({1});
  CHECK(b.images.shape() == engine::Shape{1, 3, 8, 8});
  // Offsets (8-4)/2 = 2 rows and (8-5)/2 = 1 column.
  for (int c = 0; c < 3; ++c) {
    CHECK(at(b.images, 0, c, 2, 1) == idx_pixel(1, 0) / 255.0f);
    CHECK(at(b.images, 0, c, 5, 5) == idx_pixel(1, 19) / 255.0f);
    CHECK(at(b.images, 0, c, 1, 1) == 0.0f);
    CHECK(at(b.images, 0, c, 2, 0) == 0.0f);
    CHECK(at(b.images, 0, c, 2, 6) == 0.0f);
    CHECK(at(b.images, 0, c, 6, 1) == 0.0f);
  }
  auto small = open_dataset("fashion-mnist:" + dir.str(), ImageSpec{1, 3}, Split::Test);
  Batch s = small->load({0});
  // Columns start at (3-5)/2 = -1, rows at (3-4)/2 = 0: pixel (row 0, col 1) lands at (0, 0).
  CHECK(at(s.images, 0, 0, 0, 0) == idx_pixel(0, 1) / 255.0f);
  CHECK(at(s.images, 0, 0, 2, 2) == idx_pixel(0, 2 * 5 + 3) / 255.0f);
}

TEST_CASE("fashion-mnist rejects bad magic, count mismatch, truncation and missing files") {
  TempDir dir("idx_bad");
  auto open = [&] { open_dataset("fashion-mnist:" + dir.str(), ImageSpec{1, 28}, Split::Test); };
  std::string missing = error_of(open);
  CHECK(missing.find(dir.str()) != std::string::npos);
  CHECK(missing.find("apt-get install dataset-fashion-mnist") != std::string::npos);

  write_fashion(dir.path, 2, false);
  write_file(dir.path / "t10k-labels-idx1-ubyte", idx_bytes(0x801, {3}, {1, 2, 3}), false);
  CHECK(error_of(open).find("3 labels but") != std::string::npos);

  write_file(dir.path / "t10k-labels-idx1-ubyte", idx_bytes(0x803, {2}, {1, 2}), false);
  CHECK(error_of(open).find("magic") != std::string::npos);

  write_file(dir.path / "t10k-labels-idx1-ubyte", idx_bytes(0x801, {2}, {1, 2}), false);
  write_file(dir.path / "t10k-images-idx3-ubyte",
             idx_bytes(0x803, {2, 4, 5}, std::vector<uint8_t>(39)), false);
  CHECK(error_of(open).find("truncated") != std::string::npos);

  write_file(dir.path / "t10k-images-idx3-ubyte",
             idx_bytes(0x803, {2, 4, 5}, std::vector<uint8_t>(40)), false);
  CHECK_NOTHROW(open());
  write_file(dir.path / "t10k-labels-idx1-ubyte", idx_bytes(0x801, {2}, {1, 10}), false);
  CHECK(error_of(open).find("label 10") != std::string::npos);
  CHECK_THROWS_AS(open(), std::runtime_error);
}

TEST_CASE("real Fashion-MNIST test split, when installed") {
  if (!fs::exists("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")) {
    MESSAGE("skipped: /usr/share/datasets/fashion-mnist is not installed");
    return;
  }
  auto data = open_dataset("fashion-mnist", ImageSpec{1, 28}, Split::Test);
  CHECK(data->size() == 10000);
  CHECK(data->num_classes() == 10);
  CHECK(data->describe() == "fashion-mnist test (10000 images, /usr/share/datasets/fashion-mnist)");
  Batch b = data->load({0, 1, 9999});
  // The first test labels of Fashion-MNIST are ankle boot (9) and pullover (2).
  CHECK(b.labels[0] == 9);
  CHECK(b.labels[1] == 2);
  float lo = 1, hi = 0;
  for (float v : b.images.values()) lo = std::min(lo, v), hi = std::max(hi, v);
  CHECK(lo == 0.0f);
  CHECK(hi == 1.0f);
}

TEST_CASE("cifar10: test and train batches, nested folder, channel-major pixels") {
  TempDir dir("cifar");
  fs::path nested = dir.path / "cifar-10-batches-bin";
  fs::create_directories(nested);
  write_cifar(nested / "test_batch.bin", 100, 3);
  for (int i = 1; i <= 5; ++i)
    write_cifar(nested / ("data_batch_" + std::to_string(i) + ".bin"), 2 * (i - 1), 2);

  auto test = open_dataset("cifar10:" + dir.str(), ImageSpec{3, 32}, Split::Test);
  CHECK(test->size() == 3);
  CHECK(test->num_classes() == 10);
  CHECK(test->describe() == "cifar10 test (3 images, " + nested.string() + ")");
  Batch b = test->load({1});
  CHECK(b.labels == std::vector<int>{101 % 10});
  CHECK(at(b.images, 0, 0, 0, 0) == cifar_pixel(101, 0) / 255.0f);
  CHECK(at(b.images, 0, 1, 2, 3) == cifar_pixel(101, 1024 + 2 * 32 + 3) / 255.0f);
  CHECK(at(b.images, 0, 2, 31, 31) == cifar_pixel(101, 3071) / 255.0f);

  auto train = open_dataset("cifar10:" + nested.string(), ImageSpec{3, 32}, Split::Train);
  CHECK(train->size() == 10);
  Batch t = train->load({9, 0, 4});
  CHECK(t.labels == std::vector<int>{9, 0, 4});
  CHECK(at(t.images, 0, 2, 5, 7) == cifar_pixel(9, 2048 + 5 * 32 + 7) / 255.0f);

  // A 36x36 model gets a 2-pixel zero border.
  Batch padded = open_dataset("cifar10:" + dir.str(), ImageSpec{3, 36}, Split::Test)->load({0});
  CHECK(at(padded.images, 0, 0, 2, 2) == cifar_pixel(100, 0) / 255.0f);
  CHECK(at(padded.images, 0, 0, 1, 2) == 0.0f);
}

TEST_CASE("cifar10 refuses a gray model, bad sizes and missing batches") {
  TempDir dir("cifar_bad");
  write_cifar(dir.path / "test_batch.bin", 0, 2);
  CHECK_THROWS_AS(open_dataset("cifar10:" + dir.str(), ImageSpec{1, 32}, Split::Test),
                  std::invalid_argument);
  std::string missing = error_of([&] {
    open_dataset("cifar10:" + dir.str(), ImageSpec{3, 32}, Split::Train);
  });
  CHECK(missing.find("data_batch_1.bin") != std::string::npos);
  CHECK(missing.find(dir.str()) != std::string::npos);
  write_file(dir.path / "test_batch.bin", std::vector<uint8_t>(3073 + 5), false);
  CHECK(error_of([&] {
          open_dataset("cifar10:" + dir.str(), ImageSpec{3, 32}, Split::Test);
        }).find("multiple of 3073") != std::string::npos);
}

TEST_CASE("folder: sorted classes and files, exact pixels at model size, gray replicated") {
  TempDir dir("folder");
  fs::create_directories(dir.path / "b_cat");
  fs::create_directories(dir.path / "a_dog");
  fs::create_directories(dir.path / ".hidden");
  write_png(dir.path / "b_cat" / "2.png", 4, 4, 3,
            [](int x, int y, int c) { return static_cast<uint8_t>(10 * x + 50 * y + 100 * c); });
  write_png(dir.path / "b_cat" / "1.PNG", 4, 4, 1,
            [](int x, int y, int) { return static_cast<uint8_t>(x + 16 * y); });
  write_png(dir.path / "a_dog" / "z.png", 4, 4, 3, [](int, int, int) { return 7; });
  write_png(dir.path / ".hidden" / "x.png", 4, 4, 3, [](int, int, int) { return 1; });
  std::ofstream(dir.path / "a_dog" / "notes.txt") << "not an image";

  auto data = open_dataset("folder:" + dir.str(), ImageSpec{3, 4}, Split::Train);
  CHECK(data->size() == 3);
  CHECK(data->num_classes() == 2);
  CHECK(data->describe() == "folder (3 images, 2 classes, " + dir.str() + ")");
  // Order: a_dog/z.png, b_cat/1.PNG, b_cat/2.png.
  Batch b = data->load({0, 1, 2, 2});
  CHECK(b.labels == std::vector<int>{0, 1, 1, 1});
  CHECK(at(b.images, 0, 1, 3, 3) == 7 / 255.0f);
  for (int c = 0; c < 3; ++c) CHECK(at(b.images, 1, c, 2, 3) == (3 + 32) / 255.0f);
  CHECK(at(b.images, 2, 2, 1, 3) == (30 + 50 + 200) % 256 / 255.0f);
  CHECK(at(b.images, 2, 0, 3, 1) == (10 + 150) / 255.0f);
  CHECK(b.images.values() == data->load({0, 1, 2, 2}).images.values());
  CHECK_THROWS_AS(data->load({3}), std::invalid_argument);
  CHECK_THROWS_AS(data->load({-1}), std::invalid_argument);

  // stb's luminance: (77 r + 150 g + 29 b) >> 8, so pure red 255 is 76.
  write_png(dir.path / "a_dog" / "red.png", 4, 4, 3,
            [](int, int, int c) { return static_cast<uint8_t>(c == 0 ? 255 : 0); });
  auto gray = open_dataset("folder:" + dir.str(), ImageSpec{1, 4}, Split::Test);
  Batch g = gray->load({0});
  CHECK(g.images.shape() == engine::Shape{1, 1, 4, 4});
  CHECK(at(g.images, 0, 0, 2, 2) == 76 / 255.0f);
}

TEST_CASE("folder: images of another size are resized on the shorter side and centre-cropped") {
  TempDir dir("folder_resize");
  fs::create_directories(dir.path / "only");
  // A ramp of 2 per pixel across the short side 74. At S=32 the short side goes to
  // round(32*256/224) = 37, halving it, so resized pixel j sits at source 2j+0.5 with value
  // 4j+1; the centre crop starts (37-32)/2 = 2 in, so crop pixel k holds 4k+9. The long side,
  // 148 -> 74, is cropped from (74-32)/2 = 21 and is flat along the ramp.
  write_png(dir.path / "only" / "a_tall.png", 74, 148, 1,
            [](int x, int, int) { return static_cast<uint8_t>(2 * x); });
  write_png(dir.path / "only" / "b_wide.png", 148, 74, 1,
            [](int, int y, int) { return static_cast<uint8_t>(2 * y); });
  auto data = open_dataset("folder:" + dir.str(), ImageSpec{1, 32}, Split::Test);
  Batch b = data->load({0, 1});
  CHECK(b.images.shape() == engine::Shape{2, 1, 32, 32});
  for (int k = 0; k < 32; ++k)
    for (int along : {0, 13, 31}) {
      CAPTURE(k);
      // Within 1 level: the filter reproduces a linear ramp, then rounds to a byte.
      CHECK(std::abs(at(b.images, 0, 0, along, k) * 255.0f - (4 * k + 9)) <= 1.0f);
      CHECK(std::abs(at(b.images, 1, 0, k, along) * 255.0f - (4 * k + 9)) <= 1.0f);
    }
}

TEST_CASE("folder: a corrupt image is an error naming the file, never a black stand-in") {
  TempDir dir("folder_corrupt");
  fs::create_directories(dir.path / "a");
  fs::create_directories(dir.path / "b");
  write_png(dir.path / "a" / "good.png", 2, 2, 3, [](int, int, int) { return 255; });
  std::ofstream(dir.path / "b" / "bad.jpg") << "this is not a jpeg";
  auto data = open_dataset("folder:" + dir.str(), ImageSpec{3, 2}, Split::Test);
  CHECK(data->load({0}).images.data()[0] == 1.0f);
  std::string message = error_of([&] { data->load({0, 1}); });
  CHECK(message.find("image " + (dir.path / "b" / "bad.jpg").string() + ": cannot decode") !=
        std::string::npos);
}

TEST_CASE("folder: image sizes are checked from the header before anything is decoded") {
  TempDir dir("folder_huge");
  fs::create_directories(dir.path / "a");
  // 4,000,000 x 1 compresses to tens of KB, but resized to 37 pixels high it would be 5 GB.
  fs::path strip = dir.path / "a" / "strip.png";
  write_png(strip, 4000000, 1, 1, [](int, int, int) { return 0; });
  CHECK(fs::file_size(strip) < 65536);
  auto data = open_dataset("folder:" + dir.str(), ImageSpec{1, 32}, Split::Test);
  std::string message = error_of([&] { data->load({0}); });
  CHECK(message.find("image " + strip.string() + ": declares 4000000x1 pixels") !=
        std::string::npos);

  // The header alone claims 10000 x 10000; PNG's IHDR holds width and height big-endian at
  // bytes 16 and 20, and stbi_info reads no further.
  std::ifstream in(strip, std::ios::binary);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), {});
  for (int field : {16, 20})
    for (int k = 0; k < 4; ++k) bytes[field + k] = static_cast<uint8_t>(10000u >> (24 - 8 * k));
  write_file(strip, bytes, false);
  message = error_of([&] { data->load({0}); });
  INFO(message);
  CHECK(message.find("declares 10000x10000 pixels") != std::string::npos);
}

TEST_CASE("dataset specs: missing folders name the path, unknown forms list the accepted ones") {
  std::string nowhere = "/nonexistent/genie_dataset_dir";
  for (std::string kind : {"fashion-mnist:", "cifar10:", "folder:"}) {
    CAPTURE(kind);
    std::string message = error_of([&] {
      open_dataset(kind + nowhere, ImageSpec{3, 32}, Split::Test);
    });
    CHECK(message.find(nowhere) != std::string::npos);
    CHECK_THROWS_AS(open_dataset(kind + nowhere, ImageSpec{3, 32}, Split::Test),
                    std::runtime_error);
  }
  TempDir empty("empty");
  CHECK(error_of([&] {
          open_dataset("folder:" + empty.str(), ImageSpec{3, 8}, Split::Test);
        }).find(empty.str()) != std::string::npos);
  fs::create_directories(empty.path / "class");
  CHECK(error_of([&] {
          open_dataset("folder:" + empty.str(), ImageSpec{3, 8}, Split::Test);
        }).find("no images") != std::string::npos);

  std::string unknown = error_of([] {
    open_dataset("imagenet:/x", ImageSpec{3, 32}, Split::Test);
  });
  CHECK(unknown.find("cifar10:DIR") != std::string::npos);
  CHECK(unknown.find("folder:DIR") != std::string::npos);
  CHECK_THROWS_AS(open_dataset("imagenet:/x", ImageSpec{3, 32}, Split::Test),
                  std::invalid_argument);
  CHECK_THROWS_AS(open_dataset("cifar10", ImageSpec{3, 32}, Split::Test), std::invalid_argument);
  CHECK_THROWS_AS(open_dataset("fashion-mnist", ImageSpec{2, 28}, Split::Test),
                  std::invalid_argument);
}

TEST_CASE("normalize subtracts the channel mean and divides by the channel std") {
  Tensor x({2, 3, 1, 2}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  engine::normalize(x, {1, 2, 3}, {0.5f, 2, 4});
  std::vector<float> expected = {-2, 0, 0, 0.5f, 0.25f, 0.5f, 10, 12, 3, 3.5f, 1.75f, 2};
  for (int k = 0; k < 12; ++k) CHECK(x.data()[k] == expected[k]);
  CHECK_THROWS_AS(engine::normalize(x, {1, 2}, {1, 1}), std::invalid_argument);
  CHECK_THROWS_AS(engine::normalize(x, {1, 2, 3}, {1, 0, 1}), std::invalid_argument);
  Tensor flat({3, 4});
  CHECK_THROWS_AS(engine::normalize(flat, {0, 0, 0}, {1, 1, 1}), std::invalid_argument);
}
