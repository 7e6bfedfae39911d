// xoshiro256** (Blackman and Vigna) seeded through splitmix64; see rng.h.
#include "engine/rng.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <utility>
#include <vector>

#include <omp.h>

#include "engine/threads.h"

namespace engine {

namespace {
uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
// On one 64-bit word, or on a vector of them (draw_bytes's lanes).
template <class Word>
Word rotl(Word x, int k) {
  return (x << k) | (x >> (64 - k));
}
}  // namespace

Rng::Rng(uint64_t seed) {
  for (uint64_t& s : s_) s = splitmix64(seed);
}

namespace {

// xoshiro256**'s output: a scrambled copy of the state's second word.
template <class Word>
Word scrambled(Word s1) {
  return rotl(s1 * 5, 7) * 9;
}

// xoshiro256**'s state transition: the state moves by it once per draw.
template <class Word>
void advance(Word& s0, Word& s1, Word& s2, Word& s3) {
  Word t = s1 << 17;
  s2 ^= s0;
  s3 ^= s1;
  s1 ^= s2;
  s0 ^= s3;
  s2 ^= t;
  s3 = rotl(s3, 45);
}

// The transition only shifts, rotates and XORs, so it is a linear map on the 256 state bits
// over GF(2): a 256 x 256 bit matrix, stored as the images of the 256 unit states.
struct BitMatrix {
  std::array<std::array<uint64_t, 4>, 256> column;

  std::array<uint64_t, 4> apply(const std::array<uint64_t, 4>& v) const {
    std::array<uint64_t, 4> out{};
    for (int c = 0; c < 256; ++c) {
      const uint64_t take = 0 - (v[c / 64] >> (c % 64) & 1);  // all ones or all zeros
      for (int w = 0; w < 4; ++w) out[w] ^= column[c][w] & take;
    }
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
      advance(unit[0], unit[1], unit[2], unit[3]);
      t.column[c] = {unit[0], unit[1], unit[2], unit[3]};
    }
    powers.push_back(t);
    for (int j = 1; j < 64; ++j) powers.push_back(powers.back().squared());
  });
  return powers;
}

}  // namespace

uint64_t Rng::next_u64() {
  uint64_t result = scrambled(s_[1]);
  advance(s_[0], s_[1], s_[2], s_[3]);
  return result;
}

// T^draws as the product of the powers T^(2^j) of the bits set in draws.
Rng Rng::ahead(uint64_t draws) const {
  const std::vector<BitMatrix>& powers = transition_powers();
  std::array<uint64_t, 4> s = state();
  for (int j = 0; j < 64; ++j)
    if (draws >> j & 1) s = powers[j].apply(s);
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

namespace {

// [k / 2^24 < p] for uniform()'s 24-bit integer k, as the top bit of k - limit, limit =
// ceil(p * 2^24) (both below 2^26, so the difference wraps exactly when k < limit): no branch
// that a fair coin mispredicts half the time. On one draw or on a vector of them.
template <class Word>
Word below(Word draw, int64_t limit) {
  return ((draw >> 40) - static_cast<uint64_t>(limit)) >> 63;
}

// Draws [begin, end) of the stream that starts at `start` into out and returns the generator
// after the last draw. The range is cut into kLanes stretches drawn side by side, each from its
// own jump (Rng::ahead): one generator is a chain of dependent steps, and kLanes independent
// chains, one per vector lane, keep the CPU busy. Each lane packs 8 successive bytes into its
// 64-bit word before they are stored, one store per 8 bytes instead of one per byte.
Rng draw_bytes(uint8_t* out, int64_t begin, int64_t end, int64_t limit, const Rng& start) {
  static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "byte k of a word is bits 8k..8k+7");
  constexpr int kLanes = 8;
  using Lanes = uint64_t __attribute__((vector_size(sizeof(uint64_t) * kLanes)));  // GCC, Clang
  const int64_t stretch = (end - begin) / kLanes;
  Lanes s0, s1, s2, s3;
  for (int l = 0; l < kLanes; ++l) {
    const Rng::State lane = start.ahead(static_cast<uint64_t>(begin + l * stretch)).state();
    s0[l] = lane[0], s1[l] = lane[1], s2[l] = lane[2], s3[l] = lane[3];
  }
  int64_t j = 0;
  for (; j + 8 <= stretch; j += 8) {
    Lanes packed = {};
    for (int k = 0; k < 8; ++k) {
      packed |= below(scrambled(s1), limit) << (8 * k);
      advance(s0, s1, s2, s3);
    }
    for (int l = 0; l < kLanes; ++l) {
      const uint64_t word = packed[l];  // a copy: a vector lane has no address in Clang
      std::memcpy(out + begin + l * stretch + j, &word, sizeof word);
    }
  }
  for (; j < stretch; ++j) {
    const Lanes keep = below(scrambled(s1), limit);
    for (int l = 0; l < kLanes; ++l) out[begin + l * stretch + j] = static_cast<uint8_t>(keep[l]);
    advance(s0, s1, s2, s3);
  }
  // The last lane stands where the stretches end: it draws what is left.
  Rng last;
  last.set_state({s0[kLanes - 1], s1[kLanes - 1], s2[kLanes - 1], s3[kLanes - 1]});
  for (int64_t i = begin + kLanes * stretch; i < end; ++i)
    out[i] = static_cast<uint8_t>(below(last.next_u64(), limit));
  return last;
}

}  // namespace

// QDrop draws one value per activation, every step: the threads split the range, and each
// draws its part in lanes (draw_bytes).
void bernoulli_bytes(uint8_t* out, int64_t n, float p, Rng& rng) {
  const int64_t limit =
      p > 0.0f ? static_cast<int64_t>(std::ceil(std::fmin(p, 2.0f) * 16777216.0)) : 0;
  const Rng start = rng;
#pragma omp parallel if (worth_threads(n))
  {
    const int64_t t = omp_get_thread_num(), threads = omp_get_num_threads();
    Rng after = draw_bytes(out, n * t / threads, n * (t + 1) / threads, limit, start);
    if (t == threads - 1) rng = after;
  }
}

std::shared_ptr<Storage> bernoulli_mask(int64_t n, float p, Rng& rng, Device device) {
  auto mask = std::make_shared<Storage>(device, static_cast<size_t>(n));
  if (device == Device::CPU) {
    bernoulli_bytes(mask->as<uint8_t>(), n, p, rng);
  } else {
    std::vector<uint8_t> drawn(n);
    bernoulli_bytes(drawn.data(), n, p, rng);
    copy_between(*mask, drawn.data(), drawn.size());
  }
  return mask;
}

Tensor bernoulli(const Shape& shape, float p, Rng& rng, Device device) {
  Tensor t = Tensor::uninitialized(shape);
  std::vector<uint8_t> bytes(t.numel());
  bernoulli_bytes(bytes.data(), t.numel(), p, rng);
  std::copy(bytes.begin(), bytes.end(), t.data());
  return t.to(device);
}

}  // namespace engine
