// xoshiro256** (Blackman and Vigna) seeded through splitmix64; see rng.h.
#include "engine/rng.h"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <stdexcept>
#include <utility>
#include <vector>

#include <omp.h>

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

namespace {

// xoshiro256**'s state transition: the state moves by it once per draw.
void advance(uint64_t s[4]) {
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
}

// The transition only shifts, rotates and XORs, so it is a linear map on the 256 state bits
// over GF(2): a 256 x 256 bit matrix, stored as the images of the 256 unit states.
struct BitMatrix {
  std::array<std::array<uint64_t, 4>, 256> column;

  std::array<uint64_t, 4> apply(const std::array<uint64_t, 4>& v) const {
    std::array<uint64_t, 4> out{};
    for (int c = 0; c < 256; ++c)
      if (v[c / 64] >> (c % 64) & 1)
        for (int w = 0; w < 4; ++w) out[w] ^= column[c][w];
    return out;
  }
  BitMatrix squared() const {
    BitMatrix m;
    for (int c = 0; c < 256; ++c) m.column[c] = apply(column[c]);
    return m;
  }
};

// The transition raised to 2^j, j = 0..63, made once.
const std::vector<BitMatrix>& transition_powers() {
  static std::vector<BitMatrix> powers;
  static std::once_flag made;
  std::call_once(made, [] {
    BitMatrix t;
    for (int c = 0; c < 256; ++c) {
      uint64_t unit[4] = {0, 0, 0, 0};
      unit[c / 64] = uint64_t{1} << (c % 64);
      advance(unit);
      t.column[c] = {unit[0], unit[1], unit[2], unit[3]};
    }
    powers.push_back(t);
    for (int j = 1; j < 64; ++j) powers.push_back(powers.back().squared());
  });
  return powers;
}

}  // namespace

uint64_t Rng::next_u64() {
  uint64_t result = rotl(s_[1] * 5, 7) * 9;
  advance(s_);
  return result;
}

// T^draws as the product of the powers T^(2^j) of the bits set in draws.
Rng Rng::ahead(uint64_t draws) const {
  std::array<uint64_t, 4> s = state();
  for (int j = 0; j < 64; ++j)
    if (draws >> j & 1) s = transition_powers()[j].apply(s);
  Rng r;
  r.set_state(s);
  return r;
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
void bernoulli_bytes(uint8_t* out, int64_t n, float p, Rng& rng) {
  const int64_t limit =
      p > 0.0f ? static_cast<int64_t>(std::ceil(std::fmin(p, 2.0f) * 16777216.0)) : 0;
  const Rng start = rng;
#pragma omp parallel if (n > 65536)
  {
    const int64_t t = omp_get_thread_num(), threads = omp_get_num_threads();
    const int64_t begin = n * t / threads, end = n * (t + 1) / threads;
    Rng local = start.ahead(static_cast<uint64_t>(begin));
    for (int64_t i = begin; i < end; ++i) {
      int64_t k = static_cast<int64_t>(local.next_u64() >> 40);
      out[i] = static_cast<uint8_t>(static_cast<uint64_t>(k - limit) >> 63);
    }
    if (t == threads - 1) rng = local;
  }
}

Tensor bernoulli(const Shape& shape, float p, Rng& rng, Device device) {
  Tensor t = Tensor::uninitialized(shape);
  std::vector<uint8_t> bytes(t.numel());
  bernoulli_bytes(bytes.data(), t.numel(), p, rng);
  std::copy(bytes.begin(), bytes.end(), t.data());
  return t.to(device);
}

}  // namespace engine
