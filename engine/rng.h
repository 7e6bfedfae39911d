// One seedable random number generator for the whole engine (xoshiro256**, seeded by
// splitmix64), so that a run with the same seed and thread count is bit-for-bit reproducible.
// It never reads global state: every user owns or borrows an Rng.
#pragma once

#include <array>
#include <cstdint>

#include "engine/tensor.h"

namespace engine {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0);
  uint64_t next_u64();
  float uniform();                    // [0, 1)
  float uniform(float lo, float hi);  // [lo, hi)
  float normal();                     // N(0, 1), Box-Muller
  int integer(int n);                 // uniform in [0, n), unbiased
  void shuffle(std::vector<int>& v);  // Fisher-Yates
  // This generator as it will stand after `draws` more calls of next_u64(), in O(log draws).
  Rng ahead(uint64_t draws) const;

  // The whole state, to go on later exactly where the stream stands (a checkpoint).
  using State = std::array<uint64_t, 4>;
  State state() const { return {s_[0], s_[1], s_[2], s_[3]}; }
  void set_state(const State& state) {
    for (int i = 0; i < 4; ++i) s_[i] = state[i];
  }

 private:
  uint64_t s_[4];
};

// Random tensors, drawn on the host in element order and then moved to `device`, so that a
// seeded run draws the same numbers on every backend (swing offsets, QDrop masks, batch order
// and latent codes included).
Tensor randn(const Shape& shape, Rng& rng, float mean = 0.0f, float std = 1.0f,
             Device device = Device::CPU);
Tensor rand_uniform(const Shape& shape, Rng& rng, float lo = 0.0f, float hi = 1.0f,
                    Device device = Device::CPU);
// Each element 1 with probability p, else 0: [uniform() < p], one draw per element in order.
Tensor bernoulli(const Shape& shape, float p, Rng& rng, Device device = Device::CPU);
// bernoulli's draws as bytes, into n host bytes; the threads split the elements, each starting
// its part from rng.ahead(first element), so the bytes do not depend on the thread count.
void bernoulli_bytes(uint8_t* out, int64_t n, float p, Rng& rng);
// bernoulli_bytes's n bytes in a buffer on `device` (drawn on the host, so that every backend
// makes the same choice): the masks of random_where and QDrop's fake_quantize.
std::shared_ptr<Storage> bernoulli_mask(int64_t n, float p, Rng& rng, Device device);

}  // namespace engine
