#pragma once
// SEAT / WEAT (May et al. 2019; Caliskan et al. 2017) as bias-bench runs it (bias_bench/benchmark/seat/
// {seat,weat}.py, vendored from W4ngatang/sent-bias). See shared/data/METRICS.md §3.
//
//  cos(x, y) = np.dot(x, y) / math.sqrt(np.dot(x, x) * np.dot(y, y)) on float32 encodings: the dots are
//              float32 (BLAS sdot), their product is float32, the quotient float64.
//  s(w)      = mean_{a in A} cos(w, a) - mean_{b in B} cos(w, b)  -- numpy reduces cossims[:, A]
//              (a column-major fancy-index copy) column by column: a SEQUENTIAL sum per row; the
//              later means/std over s use numpy's pairwise summation
//  effect    = (mean_X s - mean_Y s) / std_{X u Y}(s, ddof = 1)
//  p-value   = one-sided permutation test on sum_{x in Xi} s(x): exact over all itertools.combinations
//              when C(2n, n) <= n_samples, else "biased by one" sampling with n_samples - 1 in-place
//              shuffles of the index array from numpy's legacy global RNG (np.random.seed(seed) once per
//              SEATRunner call; the state carries over from test to test, so the order matters).
//
// Bit-exact p-values need the reference's cosines to the last bit: numpy calls OpenBLAS' sdot, whose
// summation order depends on the CPU kernel OpenBLAS picks at run time. The shipped goldens
// (metric_goldens/bert/seat.json, an AMD EPYC with AVX-512) were produced by OpenBLAS 0.3.21's SKYLAKEX
// sdot kernel; CosineArithmetic::openblas_skylakex_float32 (the default) reproduces it: all 17 p-values
// and effect sizes of the golden are equal to the bit. AVX2-only CPUs (Haswell, Zen 2/3) use the HASWELL
// kernel (openblas_haswell_float32): effect sizes move by ~1e-6 and 3 of those 17 p-values by 1e-5 --
// an inherent cross-machine property of the Python reference, not of this code.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <biaslab/eval/numpy_random.hpp>
#include <biaslab/export.hpp>

namespace biaslab::eval {

struct SeatSet {
  std::string category;
  std::vector<std::string> examples;  // file order; duplicates removed (see SeatTest)
};

struct SeatTest {
  std::string name;  // file stem, e.g. "sent-weat6b"
  SeatSet targ1, targ2, attr1, attr2;
  // bias-bench keys encodings by string (a dict), so a duplicated string within a set collapses to its
  // first position; the shipped files have none. Number of such duplicates dropped here.
  std::size_t duplicates_removed = 0;
};

// Reads one test file (a single JSON object despite the .jsonl extension).
BIASLAB_API SeatTest load_seat_test(const std::filesystem::path& file);

// Every "<name>.jsonl" in `directory` (hidden files skipped), ordered by bias-bench's _test_sort_key
// (digit runs compared as integers: weat1 < weat2 < weat10).
BIASLAB_API std::vector<std::string> list_seat_tests(const std::filesystem::path& directory);
BIASLAB_API bool seat_test_name_less(std::string_view a, std::string_view b);

// The 17 tests of the bias-bench paper in its order (sent-religion1 ... sent-weat8b).
BIASLAB_API const std::vector<std::string>& bias_bench_seat_tests();

// Row-major float32 matrix: one encoding per example.
struct EmbeddingMatrix {
  std::size_t rows = 0;
  std::size_t dim = 0;
  std::vector<float> values;  // rows * dim

  std::span<const float> row(std::size_t i) const { return {values.data() + i * dim, dim}; }
};

enum class CosineArithmetic {
  openblas_skylakex_float32,  // float32 dots as OpenBLAS 0.3.21 SKYLAKEX/COOPERLAKE/SAPPHIRERAPIDS sdot (goldens)
  openblas_haswell_float32,   // float32 dots as OpenBLAS 0.3.21 HASWELL/ZEN sdot (AVX2-only machines)
  float64,                    // dots accumulated in double (machine-independent, not bit-compatible)
};

enum class OpenBlasSdotKernel { skylakex, haswell };

// OpenBLAS 0.3.21 sdot for unit strides (kernel/x86_64/sdot.c): the first n & ~31 elements go through the
// kernel, the tail is added in double, the result is rounded to float (single-threaded, n <= 10000).
//  skylakex (sdot_microk_skylakex-2.c): 64-element blocks in four 16-lane FMA accumulators, each folded
//    to 8 lanes (low + high half), then 32-element blocks in four 8-lane FMA accumulators,
//    ((a0 + a1) + a2) + a3, 128-bit fold, two horizontal adds. (GCC contracts the kernel's
//    `acc += x * y` into FMA; for 64-dim encodings only the first, exact step of each lane occurs.)
//  haswell (sdot_microk_haswell-2.c): 32-element blocks in four 8-lane FMA accumulators, each folded to
//    4 lanes, (a0 + a1) + (a2 + a3), two horizontal adds.
BIASLAB_API float openblas_sdot(std::span<const float> x, std::span<const float> y, OpenBlasSdotKernel kernel);

// bias-bench _encode's normalisation, in place: encs[text] /= np.linalg.norm(encs[text]) on a float32
// vector -- norm = float32 sqrt of sdot(e, e) (OpenBLAS kernel as above), then float32 division per element.
BIASLAB_API void seat_normalize_encoding(std::span<float> encoding,
                                         OpenBlasSdotKernel kernel = OpenBlasSdotKernel::skylakex);

struct WeatOptions {
  std::size_t n_samples = 100000;
  CosineArithmetic cosine = CosineArithmetic::openblas_skylakex_float32;
};

struct WeatResult {
  double effect_size = 0.0;
  double p_value = 0.0;
  bool exact_test = false;   // all C(2n, n) partitions enumerated
  std::size_t total = 0;     // partitions or samples counted (incl. the +1 bias)
  std::size_t hits = 0;      // statistic >= observed (incl. the +1 bias)
  std::size_t equalities = 0;
};

// s(w) for every w in X then Y (weat.s_wAB on the cosine lookup). Throws on empty sets, unequal
// |X| != |Y| or mismatched dimensions.
BIASLAB_API std::vector<double> weat_association_scores(const EmbeddingMatrix& X, const EmbeddingMatrix& Y,
                                                        const EmbeddingMatrix& A, const EmbeddingMatrix& B,
                                                        CosineArithmetic cosine = CosineArithmetic::openblas_skylakex_float32);

// Effect size from s (first `size` values = X, the rest = Y): (mean_X - mean_Y) / std(s, ddof=1).
BIASLAB_API double weat_effect_size(std::span<const double> s, std::size_t size);

// weat.p_val_permutation_test (non-parametric) from s; fills p_value, exact_test, total, hits, equalities.
BIASLAB_API WeatResult weat_p_value(std::span<const double> s, std::size_t size, NumpyRandomState& rng,
                                    std::size_t n_samples = 100000);

// X = targ1, Y = targ2 (equal sizes), A = attr1, B = attr2. Consumes `rng` only for the sampled test.
BIASLAB_API WeatResult run_weat(const EmbeddingMatrix& X, const EmbeddingMatrix& Y, const EmbeddingMatrix& A,
                                const EmbeddingMatrix& B, NumpyRandomState& rng, const WeatOptions& options = {});

struct SeatEncodedTest {
  std::string name;
  EmbeddingMatrix targ1, targ2, attr1, attr2;
};

struct SeatTestResult {
  std::string test;
  double effect_size = 0.0;
  double p_value = 0.0;
};

// SEATRunner.__call__: seed the legacy RNG once, then run the tests in the given order.
BIASLAB_API std::vector<SeatTestResult> run_seat(std::span<const SeatEncodedTest> tests, std::uint32_t seed = 0,
                                                 const WeatOptions& options = {});

// Mean |effect size| per bias-bench paper group over the tests present: "gender" (weat6/6b/7/7b/8/8b),
// "race" (angry_black_woman x2, weat3/3b/4/5/5b), "religion" (religion1/1b/2/2b), "all" (every result).
// Groups with no result are omitted. Plain sequential mean (the aggregate is not in bias-bench's code).
BIASLAB_API std::map<std::string, double> seat_mean_abs_effect_sizes(std::span<const SeatTestResult> results);

}  // namespace biaslab::eval
