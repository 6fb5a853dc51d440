#pragma once
// Uncertainty and paired comparisons for per-item benchmark results (not part of any reference
// implementation; every choice is documented here so a paper can state it).
//
// Bootstrap (percentile method): resample n items with replacement, B times, from std::mt19937_64(seed).
//   Item draw: r = engine() until r < 2^64 - (2^64 mod n), index = r mod n (unbiased rejection; no
//   std::uniform_int_distribution, whose algorithm differs between standard libraries). Replicate b uses
//   draws b*n .. b*n + n - 1 of the stream. CI = numpy.percentile(replicates, [100a/2, 100(1-a/2)]) with
//   numpy's default 'linear' method (bit-identical, incl. numpy's two-sided lerp). NaN replicates (a
//   statistic undefined on a resample) are dropped and counted.
// Paired permutation test (two-sided): under H0 the two models' results on an item are exchangeable;
//   each permutation swaps item i when the top bit of engine() is set (std::mt19937_64(seed), one draw per
//   item, items in order). T = statistic(compressed) - statistic(base). p = (1 + #{|T*| >= |T_obs|}) /
//   (1 + R) for R random permutations, or the exact fraction over all 2^n swap patterns when
//   2^n <= R. |T*| >= |T_obs| is tested with a tolerance of 1e-12 * max(1, |T_obs|) (float noise).
// McNemar on binary decisions: b = base 1 & compressed 0, c = base 0 & compressed 1.
//   exact_p      = min(1, 2 * P[X <= min(b, c)]), X ~ Binomial(b + c, 1/2)   (two-sided exact)
//   mid_p        = 2 * (P[X <= min(b, c)] - P[X = min(b, c)] / 2), capped at 1  (Fagerland et al. 2013)
//   chi_square   = (|b - c| - 1)^2 / (b + c)  (Edwards' continuity correction, as statsmodels
//                  mcnemar(exact=False)), chi_square_p = P[chi2_1 >= chi_square] = erfc(sqrt(x / 2)).
//   b + c == 0: all p-values 1, chi_square 0.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <span>
#include <vector>

#include <biaslab/export.hpp>

namespace biaslab::eval {

struct BootstrapOptions {
  std::size_t resamples = 10000;
  std::uint64_t seed = 0;
  double confidence = 0.95;
};

struct ConfidenceInterval {
  double estimate = 0.0;  // statistic on the original items
  double lower = 0.0;
  double upper = 0.0;
  double confidence = 0.95;
  std::size_t resamples = 0;          // replicates used
  std::size_t invalid_resamples = 0;  // NaN replicates dropped
};

// Unbiased index in [0, n) from a 64-bit engine (the rejection rule above). n must be > 0.
BIASLAB_API std::uint64_t uniform_index(std::mt19937_64& engine, std::uint64_t n);

// numpy.percentile(values, q) with method='linear' (q in percent, 0..100). Throws on empty input.
BIASLAB_API double numpy_percentile(std::vector<double> values, double q);

// Statistic over a multiset of item indices (a bootstrap resample repeats items; order is resample order).
using IndexStatistic = std::function<double(std::span<const std::size_t> items)>;

// The B bootstrap replicates of `statistic` (NaN ones included), in draw order.
BIASLAB_API std::vector<double> bootstrap_replicates(std::size_t n_items, const IndexStatistic& statistic,
                                                     std::size_t resamples, std::uint64_t seed);
// Percentile CI. Throws when n_items == 0 or every replicate is NaN.
BIASLAB_API ConfidenceInterval bootstrap_ci(std::size_t n_items, const IndexStatistic& statistic,
                                            const BootstrapOptions& options = {});
// Convenience: CI of the arithmetic mean of `values` (sequential sum / n).
BIASLAB_API ConfidenceInterval bootstrap_mean_ci(std::span<const double> values, const BootstrapOptions& options = {});

// ---- paired comparison of two models on the same items -------------------------------------------------

struct FlipCounts {
  std::size_t n = 0;
  std::size_t both_positive = 0;    // base 1, compressed 1
  std::size_t both_negative = 0;    // base 0, compressed 0
  std::size_t base_only = 0;        // base 1, compressed 0  (McNemar b)
  std::size_t compressed_only = 0;  // base 0, compressed 1  (McNemar c)
  std::size_t flips() const { return base_only + compressed_only; }
};

// Decisions must be 0 or 1 (e.g. CrowS pair_score, StereoSet "stereotype preferred", BBQ correct);
// throws std::invalid_argument otherwise or on a length mismatch.
BIASLAB_API FlipCounts count_flips(std::span<const int> base_decisions, std::span<const int> compressed_decisions);
// Items whose decision differs, for decisions with any number of values (e.g. CrowS winner incl. ties).
BIASLAB_API std::size_t count_changed(std::span<const int> base_decisions, std::span<const int> compressed_decisions);

struct McNemarResult {
  std::size_t b = 0, c = 0;
  double exact_p = 1.0;
  double mid_p = 1.0;
  double chi_square = 0.0;
  double chi_square_p = 1.0;
};
BIASLAB_API McNemarResult mcnemar_test(std::size_t base_only, std::size_t compressed_only);
BIASLAB_API McNemarResult mcnemar_test(const FlipCounts& flips);

struct PermutationOptions {
  std::size_t permutations = 10000;
  std::uint64_t seed = 0;
};

struct PermutationTestResult {
  double observed = 0.0;  // T_obs = statistic(compressed) - statistic(base)
  double p_value = 1.0;
  std::size_t permutations = 0;  // R, or 2^n for the exact test
  std::size_t at_least_as_extreme = 0;
  bool exact = false;
};

// difference(items, swapped) must return statistic(compressed) - statistic(base) over `items`, where for
// every item i with swapped[i] == 1 the two models' results are exchanged. This covers aggregates that
// are not per-item means (StereoSet's per-target macro averages).
using PairedDifference = std::function<double(std::span<const std::size_t> items, std::span<const std::uint8_t> swapped)>;

BIASLAB_API PermutationTestResult paired_permutation_test(std::size_t n_items, const PairedDifference& difference,
                                                          const PermutationOptions& options = {});

struct PairedComparison {
  double difference = 0.0;             // compressed - base on all items
  ConfidenceInterval difference_ci;    // paired bootstrap (same resampled items for both models)
  PermutationTestResult permutation;
  // Set by compare_paired_scores when both score vectors are 0/1 decisions.
  std::optional<double> base_score, compressed_score;
  std::optional<FlipCounts> flips;
  std::optional<McNemarResult> mcnemar;
};

BIASLAB_API PairedComparison compare_paired(std::size_t n_items, const PairedDifference& difference,
                                            const BootstrapOptions& bootstrap = {},
                                            const PermutationOptions& permutation = {});

// Aggregate of one model's per-item values (in item order of the span it is given).
using VectorAggregate = std::function<double(std::span<const double> values)>;

// Paired comparison for metrics that are a function of one value per item (CrowS pair_score ->
// 100 * mean, BBQ accuracy, ...). Empty `aggregate` = arithmetic mean. base_score / compressed_score are
// always set; flips / mcnemar when every value is 0 or 1.
BIASLAB_API PairedComparison compare_paired_scores(std::span<const double> base, std::span<const double> compressed,
                                                   const VectorAggregate& aggregate = {},
                                                   const BootstrapOptions& bootstrap = {},
                                                   const PermutationOptions& permutation = {});

}  // namespace biaslab::eval
