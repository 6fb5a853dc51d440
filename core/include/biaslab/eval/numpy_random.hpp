#pragma once
// numpy's legacy global RNG (np.random.seed / np.random.shuffle = RandomState on MT19937), bit for bit.
// SEAT p-values (bias-bench weat.py) are sampled permutation tests drawn from this generator, with the
// state carried from test to test, so reproducing them needs the exact stream and shuffle algorithm.
//
//  * seed(s): MT19937 init_genrand(s) — the same as std::mt19937(s) (numpy's legacy integer seeding).
//  * next_uint32: one MT19937 output; next_uint64: (first << 32) | second.
//  * random_interval(max): numpy's bounded draw for shuffles: mask = smallest 2^k - 1 >= max, redraw
//    next_uint32() & mask (next_uint64() & mask when max > 2^32 - 1) until <= max.
//  * shuffle(x): for i = n-1 .. 1: j = random_interval(i); swap(x[i], x[j])  (RandomState.shuffle on a
//    1-d array).
#include <cstdint>
#include <random>
#include <span>
#include <utility>

#include <biaslab/export.hpp>

namespace biaslab::eval {

class BIASLAB_API NumpyRandomState {
 public:
  explicit NumpyRandomState(std::uint32_t seed = 0) : engine_(seed) {}

  void seed(std::uint32_t seed) { engine_.seed(seed); }
  std::uint32_t next_uint32() { return static_cast<std::uint32_t>(engine_()); }
  std::uint64_t next_uint64();
  std::uint64_t random_interval(std::uint64_t max);

  template <class T>
  void shuffle(std::span<T> values) {
    if (values.size() < 2) return;
    for (std::size_t i = values.size() - 1; i >= 1; --i) {
      const auto j = static_cast<std::size_t>(random_interval(i));
      std::swap(values[i], values[j]);
    }
  }

 private:
  std::mt19937 engine_;
};

}  // namespace biaslab::eval
