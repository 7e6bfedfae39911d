// The image generator of GENIE-D (docs/METHOD.md, "Generator"). Fresh for every distillation
// batch, PyTorch default init, its BatchNorms always in training mode (eps 1e-5):
//
//   z (B, 256) -> Linear(256, 128*s0*s0) -> reshape (B, 128, s0, s0) -> BN(128)
//   -> up x2 -> Conv3x3(128, 64) -> BN(64) -> LeakyReLU(0.2)
//   -> up x2 -> Conv3x3(64, C) -> Tanh -> BN(C, affine=False)      with s0 = S / 4
//
// The output is already in the network's normalised input space.
#pragma once

#include <vector>

#include "models/layers.h"

namespace models {

class Generator {
 public:
  static constexpr int kLatent = 256;
  // Images of `channels` x `size` x `size`; size must be divisible by 4.
  Generator(int channels, int size, engine::Rng& rng);

  Tensor forward(const Tensor& z);  // z (B, 256) -> images (B, C, S, S)
  std::vector<Tensor> parameters();
  void set_trainable(bool trainable);
  // Moves every tensor (running statistics included) to `device`; call before an optimiser
  // takes the parameters' handles.
  void to(engine::Device device);
  engine::Device device() const { return linear_.weight.device(); }

 private:
  int s0_;
  Linear linear_;
  BatchNorm2d bn0_;
  Conv2d conv1_;
  BatchNorm2d bn1_;
  Conv2d conv2_;
  BatchNorm2d bn_out_;
};

}  // namespace models
