// Nothing damaged is ever read as good: a NaN in a model makes evaluation count misses, never
// hits, and makes quantization stop with a message instead of producing a quantized model.
// Shapes: images (N, 1, 8, 8) of the tiny ResNet-20; logits (N, 10).
#include <doctest/doctest.h>

#include <limits>
#include <stdexcept>
#include <vector>

#include "engine/rng.h"
#include "genie/quantize.h"
#include "models/evaluate.h"
#include "tests/tiny_models.h"

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// n random images with labels 0, 1, ..., 9, 0, ... in memory.
class RandomImages : public engine::Dataset {
 public:
  explicit RandomImages(int n) : n_(n) {}
  int64_t size() const override { return n_; }
  int num_classes() const override { return 10; }
  engine::Batch load(const std::vector<int64_t>& indices) const override {
    engine::Batch b;
    engine::Rng rng(7);
    b.images = engine::rand_uniform({static_cast<int>(indices.size()), 1, 8, 8}, rng);
    for (int64_t i : indices) b.labels.push_back(static_cast<int>(i % 10));
    return b;
  }
  std::string describe() const override { return "random images"; }

 private:
  int n_;
};

models::ResNet tiny_model() {
  models::ResNet m(testing::tiny_resnet20(), 3);
  testing::randomize_batch_norms(m, 4);
  return m;
}

}  // namespace

TEST_CASE("evaluate counts a sample with NaN logits as wrong, in top-1 and top-5") {
  RandomImages data(30);
  models::ResNet finite = tiny_model();
  models::Accuracy a = models::evaluate(finite, data, 8);
  CHECK(a.non_finite == 0);
  CHECK(a.top5 > 0);  // a random model hits some labels in its top 5: the control

  models::ModelConfig config = testing::tiny_resnet20();
  config.mean = {kNaN};  // every normalised image, hence every logit, is NaN
  models::ResNet nan_mean(config, 3);
  models::Accuracy b = models::evaluate(nan_mean, data, 8);
  CHECK(b.top1 == 0.0);
  CHECK(b.top5 == 0.0);
  CHECK(b.non_finite == 30);
  CHECK(b.n == 30);
}

TEST_CASE("evaluate counts NaN logits wrong when only one weight is NaN") {
  RandomImages data(12);
  models::ResNet m = tiny_model();
  m.parameters()[0].data()[0] = kNaN;
  models::Accuracy a = models::evaluate(m, data, 5);
  CHECK(a.top1 == 0.0);
  CHECK(a.non_finite == 12);
}

TEST_CASE("quantize stops at the first non-finite activation instead of returning a model") {
  engine::Rng rng(5);
  engine::Tensor calibration = engine::randn({16, 1, 8, 8}, rng);
  genie::QuantConfig c;
  c.iters = 2;
  c.progress = false;
  for (genie::QuantMethod method : {genie::QuantMethod::Rtn, genie::QuantMethod::Genie}) {
    CAPTURE(genie::method_name(method));
    c.method = method;
    models::ResNet m = tiny_model();
    m.parameters()[0].data()[0] = kNaN;
    CHECK_THROWS_WITH_AS(genie::quantize(m, calibration, c), doctest::Contains("NaN"),
                         std::runtime_error);
  }
  models::ResNet m = tiny_model();
  engine::Tensor nan_images = engine::randn({16, 1, 8, 8}, rng);
  nan_images.data()[3] = kNaN;
  CHECK_THROWS_WITH_AS(genie::quantize(m, nan_images, c), doctest::Contains("conv1"),
                       std::runtime_error);
}
