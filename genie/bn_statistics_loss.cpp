// The BN-statistics and input-statistics losses of GENIE-D; see bn_statistics_loss.h.
#include "genie/bn_statistics_loss.h"

#include <cmath>

#include "engine/ops.h"

namespace genie {

namespace {

// l2(a, b) = ||a - b||^2 / len(b), len(b) = the size of b's first dimension.
Tensor l2(const Tensor& a, const Tensor& b) {
  return engine::mul_scalar(engine::sum_all(engine::square(engine::sub(a, b))), 1.0f / b.size(0));
}

// sqrt(var + 1e-6), the target of the standard deviation (docs/METHOD.md: "sqrt(var + 1e-6)").
Tensor target_std(const models::BatchNorm2d& bn) {
  return engine::sqrt(engine::add_scalar(bn.state.running_var, 1e-6f));
}

}  // namespace

Tensor bn_statistics_loss(const std::vector<BnObservation>& observed) {
  Tensor total({1}, 0.0f, observed.empty() ? engine::Device::CPU : observed[0].input.device());
  for (const BnObservation& o : observed) {
    Tensor m = engine::mean(o.input, {0, 2, 3});
    Tensor d = engine::std_unbiased(o.input, {0, 2, 3});
    total =
        engine::add(total, engine::add(l2(m, o.bn->state.running_mean), l2(d, target_std(*o.bn))));
  }
  return total;
}

Tensor input_statistics_loss(const Tensor& images) {
  Tensor m = engine::mean(images, {2, 3});          // (N, C)
  Tensor d = engine::std_unbiased(images, {2, 3});  // (N, C)
  return engine::add(l2(Tensor({1, images.size(1)}, 0.0f, images.device()), m),
                     l2(Tensor({1, images.size(1)}, 1.0f, images.device()), d));
}

}  // namespace genie
