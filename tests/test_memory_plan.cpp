// GENIE-M's memory plan: the caches it predicts, and the refusal of a run that cannot fit.
#include <doctest/doctest.h>

#include <stdexcept>
#include <string>

#include "genie/memory_plan.h"
#include "tests/tiny_models.h"

TEST_CASE("memory plan: the largest unit's caches, from its input and output sizes") {
  models::ResNet m(testing::tiny_resnet20('A'));
  // tiny_resnet20: 1x8x8 images; the stem and layer1 keep 8x8 at 4 channels (256 floats).
  const int images = 1000;
  genie::MemoryPlan plan = genie::plan_quantization(m, images, 32);
  const double layer1 = images * (2 * 256 + 3 * 256) * 4 / 1e6;  // X, X_q; Y and the next X_q
  CHECK(plan.largest_unit == "layer1.0");
  CHECK(plan.cache_mb == doctest::Approx(layer1));
  CHECK(plan.peak_mb > plan.cache_mb);
  // Twice the images, twice the caches.
  CHECK(genie::plan_quantization(m, 2 * images, 32).cache_mb == doctest::Approx(2 * layer1));
}

TEST_CASE("memory plan: a peak beyond the available memory is refused with the way out") {
  genie::MemoryPlan impossible{"layer1.0", 1e9, 2e9};  // 2 PB
  try {
    genie::require_memory(impossible, engine::Device::CPU);
    FAIL("a 2 PB plan was accepted");
  } catch (const std::runtime_error& e) {
    std::string what = e.what();
    CHECK(what.find("layer1.0") != std::string::npos);
    CHECK(what.find("available") != std::string::npos);
    CHECK(what.find("--num") != std::string::npos);
  }
  CHECK_NOTHROW(genie::require_memory({"layer1.0", 1.0, 2.0}, engine::Device::CPU));
}
