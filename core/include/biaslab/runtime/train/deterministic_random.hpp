#pragma once
// Random draws that are the same on every platform and standard library. std::mt19937_64 is
// specified bit for bit, but std::uniform_*_distribution and std::shuffle are not, so biaslab
// never uses them where a seed must reproduce a corpus, a data order or a mask exactly.
// Header-only and torch-free: the corpus plugins use it too.
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace biaslab::runtime::train {

// SplitMix64 finaliser: decorrelates nearby seeds (seed, seed + 1, ...) before they seed a generator.
inline std::uint64_t mix_seed(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// A generator for one purpose ("stream") of one seed, e.g. (seed, epoch) or (seed, step).
inline std::mt19937_64 make_generator(std::uint64_t seed, std::uint64_t stream, std::uint64_t index = 0) {
  return std::mt19937_64(mix_seed(mix_seed(mix_seed(seed) ^ stream) ^ index));
}

// Uniform in [0, 1) with 53 random bits.
inline double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

// Uniform integer in [0, n) without modulo bias (rejection sampling); n > 0.
inline std::uint64_t uniform_below(std::mt19937_64& rng, std::uint64_t n) {
  const std::uint64_t limit = n * ((~std::uint64_t{0}) / n);  // largest multiple of n representable
  std::uint64_t x;
  do {
    x = rng();
  } while (x >= limit);
  return x % n;
}

// Fisher-Yates shuffle with uniform_below.
template <typename T>
void shuffle_in_place(std::vector<T>& items, std::mt19937_64& rng) {
  for (std::size_t i = items.size(); i > 1; --i) {
    const auto j = static_cast<std::size_t>(uniform_below(rng, i));
    std::swap(items[i - 1], items[j]);
  }
}

}  // namespace biaslab::runtime::train
