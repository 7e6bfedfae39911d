// xoshiro256** (Blackman and Vigna) seeded through splitmix64; see rng.h.
#include "engine/rng.h"

#include <cmath>
#include <stdexcept>
#include <utility>

namespace engine {

namespace {
uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

Rng::Rng(uint64_t seed) {
  for (uint64_t& s : s_) s = splitmix64(seed);
}

uint64_t Rng::next_u64() {
  uint64_t result = rotl(s_[1] * 5, 7) * 9;
  uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

// The top 24 bits: every value is an exact float in [0, 1).
float Rng::uniform() { return static_cast<float>(next_u64() >> 40) * (1.0f / 16777216.0f); }

float Rng::uniform(float lo, float hi) { return lo + (hi - lo) * uniform(); }

float Rng::normal() {
  // 1 - u lies in (0, 1], so the log is finite.
  double u1 = 1.0 - static_cast<double>(next_u64() >> 11) * 0x1.0p-53;
  double u2 = static_cast<double>(next_u64() >> 11) * 0x1.0p-53;
  return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2));
}

int Rng::integer(int n) {
  if (n <= 0) throw std::invalid_argument("Rng::integer needs n > 0");
  // Rejection keeps every value equally likely.
  uint64_t limit = UINT64_MAX - UINT64_MAX % static_cast<uint64_t>(n);
  uint64_t x;
  do x = next_u64();
  while (x >= limit);
  return static_cast<int>(x % static_cast<uint64_t>(n));
}

void Rng::shuffle(std::vector<int>& v) {
  for (int i = static_cast<int>(v.size()) - 1; i > 0; --i) std::swap(v[i], v[integer(i + 1)]);
}

// The draws are made into a host tensor, in element order, which is then moved to `device` (on
// the CPU, to() is the tensor itself): a seeded run makes the same random choices on every
// backend by construction.
Tensor randn(const Shape& shape, Rng& rng, float mean, float std, Device device) {
  Tensor t(shape);
  float* v = t.data();
  for (int64_t i = 0; i < t.numel(); ++i) v[i] = mean + std * rng.normal();
  return t.to(device);
}

Tensor rand_uniform(const Shape& shape, Rng& rng, float lo, float hi, Device device) {
  Tensor t(shape);
  float* v = t.data();
  for (int64_t i = 0; i < t.numel(); ++i) v[i] = rng.uniform(lo, hi);
  return t.to(device);
}

// QDrop draws one value per activation, every step, so this loop is kept tight: a local copy
// of the generator holds its state in registers, and the comparison is done on uniform()'s
// 24-bit integer k as a subtraction's sign bit, without a branch that a fair coin mispredicts
// half the time. k / 2^24 < p exactly when k < ceil(p * 2^24), both sides exact.
Tensor bernoulli(const Shape& shape, float p, Rng& rng, Device device) {
  Tensor t = Tensor::uninitialized(shape);
  float* v = t.data();
  const int64_t n = t.numel(),
                limit =
                    p > 0.0f ? static_cast<int64_t>(std::ceil(std::fmin(p, 2.0f) * 16777216.0)) : 0;
  Rng local = rng;
  for (int64_t i = 0; i < n; ++i) {
    int64_t k = static_cast<int64_t>(local.next_u64() >> 40);
    v[i] = static_cast<float>(static_cast<uint64_t>(k - limit) >> 63);
  }
  rng = local;
  return t.to(device);
}

}  // namespace engine
