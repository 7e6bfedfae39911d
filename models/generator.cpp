// The GENIE-D generator; see generator.h.
#include "models/generator.h"

#include <stdexcept>

namespace models {

Generator::Generator(int channels, int size, engine::Rng& rng) : s0_(size / 4) {
  if (size % 4 != 0 || size < 4)
    throw std::invalid_argument("the generator needs an image size divisible by 4, got " +
                                std::to_string(size));
  linear_ = make_linear("linear", kLatent, 128 * s0_ * s0_, rng);
  bn0_ = make_batch_norm("bn0", 128);
  conv1_ = make_conv("conv1", 128, 64, 3, 1, 1, true, Init::TorchDefault, rng);
  bn1_ = make_batch_norm("bn1", 64);
  conv2_ = make_conv("conv2", 64, channels, 3, 1, 1, true, Init::TorchDefault, rng);
  bn_out_ = make_batch_norm("bn_out", channels, /*affine=*/false);
}

Tensor Generator::forward(const Tensor& z) {
  if (z.ndim() != 2 || z.size(1) != kLatent)
    throw std::invalid_argument("generator takes z of shape (B, 256), got " +
                                engine::shape_str(z.shape()));
  Tensor h = engine::reshape(run(linear_, z), {z.size(0), 128, s0_, s0_});
  h = run(bn0_, h, /*training=*/true);
  h = engine::upsample_nearest2x(h);
  h = engine::leaky_relu(run(bn1_, run(conv1_, h), true), 0.2f);
  h = engine::upsample_nearest2x(h);
  h = engine::tanh(run(conv2_, h));
  return run(bn_out_, h, true);
}

std::vector<Tensor> Generator::parameters() {
  return {linear_.weight, linear_.bias, bn0_.weight, bn0_.bias,     conv1_.weight,
          conv1_.bias,    bn1_.weight,  bn1_.bias,   conv2_.weight, conv2_.bias};
}

void Generator::set_trainable(bool trainable) {
  for (Tensor& p : parameters()) p.requires_grad_(trainable);
}

void Generator::to(engine::Device device) {
  std::vector<std::pair<std::string, Tensor*>> named;
  append_tensors(linear_, named);
  append_tensors(bn0_, named);
  append_tensors(conv1_, named);
  append_tensors(bn1_, named);
  append_tensors(conv2_, named);
  append_tensors(bn_out_, named);
  move_tensors(named, device);
}

}  // namespace models
