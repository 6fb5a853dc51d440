#include "biaslab/eval/statistics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace biaslab::eval {

std::uint64_t uniform_index(std::mt19937_64& engine, std::uint64_t n) {
  if (n == 0) throw std::invalid_argument("uniform_index: n must be positive");
  // Accept r < 2^64 - (2^64 mod n): every residue class then has the same number of accepted values.
  const std::uint64_t remainder = (std::numeric_limits<std::uint64_t>::max() % n + 1) % n;  // 2^64 mod n
  const std::uint64_t limit = remainder == 0 ? 0 : std::numeric_limits<std::uint64_t>::max() - remainder + 1;
  while (true) {
    const std::uint64_t r = engine();
    if (limit == 0 || r < limit) return r % n;
  }
}

double numpy_percentile(std::vector<double> values, double q) {
  if (values.empty()) throw std::invalid_argument("numpy_percentile: no values");
  if (q < 0 || q > 100) throw std::invalid_argument("numpy_percentile: q must be in [0, 100]");
  for (double v : values)
    if (std::isnan(v)) return std::numeric_limits<double>::quiet_NaN();
  std::sort(values.begin(), values.end());
  const double quantile = q / 100.0;
  const double n = static_cast<double>(values.size());
  const double virtual_index = (n - 1) * quantile;
  const double previous = std::floor(virtual_index);
  const std::size_t lo = static_cast<std::size_t>(std::clamp(previous, 0.0, n - 1));
  const std::size_t hi = static_cast<std::size_t>(std::clamp(previous + 1, 0.0, n - 1));
  const double gamma = virtual_index - previous;
  const double a = values[lo], b = values[hi];
  const double diff = b - a;
  // numpy _lerp: a + diff*t, replaced by b - diff*(1-t) where t >= 0.5.
  return gamma >= 0.5 ? b - diff * (1 - gamma) : a + diff * gamma;
}

std::vector<double> bootstrap_replicates(std::size_t n_items, const IndexStatistic& statistic, std::size_t resamples,
                                         std::uint64_t seed) {
  if (n_items == 0) throw std::invalid_argument("bootstrap: no items");
  std::mt19937_64 engine(seed);
  std::vector<std::size_t> items(n_items);
  std::vector<double> replicates;
  replicates.reserve(resamples);
  for (std::size_t b = 0; b < resamples; ++b) {
    for (auto& item : items) item = static_cast<std::size_t>(uniform_index(engine, n_items));
    replicates.push_back(statistic(items));
  }
  return replicates;
}

namespace {

ConfidenceInterval interval_from(double estimate, const std::vector<double>& replicates, double confidence) {
  if (!(confidence > 0 && confidence < 1)) throw std::invalid_argument("bootstrap: confidence must be in (0, 1)");
  std::vector<double> valid;
  valid.reserve(replicates.size());
  for (double r : replicates)
    if (!std::isnan(r)) valid.push_back(r);
  if (valid.empty()) throw std::runtime_error("bootstrap: every replicate is NaN");
  ConfidenceInterval ci;
  ci.estimate = estimate;
  ci.confidence = confidence;
  ci.resamples = valid.size();
  ci.invalid_resamples = replicates.size() - valid.size();
  // Percentiles 100(1-c)/2 and 100 - that, snapped to 1e-9 so 0.95 gives exactly 2.5 and 97.5.
  const double lower_q = std::round(100.0 * (1.0 - confidence) / 2.0 * 1e9) / 1e9;
  ci.lower = numpy_percentile(valid, lower_q);
  ci.upper = numpy_percentile(valid, 100.0 - lower_q);
  return ci;
}

std::vector<std::size_t> identity_items(std::size_t n) {
  std::vector<std::size_t> items(n);
  for (std::size_t i = 0; i < n; ++i) items[i] = i;
  return items;
}

double plain_mean(std::span<const double> values) {
  if (values.empty()) return std::numeric_limits<double>::quiet_NaN();
  double sum = 0;
  for (double v : values) sum += v;
  return sum / static_cast<double>(values.size());
}

}  // namespace

ConfidenceInterval bootstrap_ci(std::size_t n_items, const IndexStatistic& statistic, const BootstrapOptions& options) {
  if (options.resamples == 0) throw std::invalid_argument("bootstrap: resamples must be positive");
  const auto replicates = bootstrap_replicates(n_items, statistic, options.resamples, options.seed);
  return interval_from(statistic(identity_items(n_items)), replicates, options.confidence);
}

ConfidenceInterval bootstrap_mean_ci(std::span<const double> values, const BootstrapOptions& options) {
  std::vector<double> gathered;
  return bootstrap_ci(
      values.size(),
      [&](std::span<const std::size_t> items) {
        gathered.resize(items.size());
        for (std::size_t i = 0; i < items.size(); ++i) gathered[i] = values[items[i]];
        return plain_mean(gathered);
      },
      options);
}

FlipCounts count_flips(std::span<const int> base, std::span<const int> compressed) {
  if (base.size() != compressed.size()) throw std::invalid_argument("count_flips: length mismatch");
  FlipCounts counts;
  counts.n = base.size();
  for (std::size_t i = 0; i < base.size(); ++i) {
    const int x = base[i], y = compressed[i];
    if ((x != 0 && x != 1) || (y != 0 && y != 1))
      throw std::invalid_argument("count_flips: decisions must be 0 or 1 (item " + std::to_string(i) + ")");
    if (x && y)
      ++counts.both_positive;
    else if (!x && !y)
      ++counts.both_negative;
    else if (x)
      ++counts.base_only;
    else
      ++counts.compressed_only;
  }
  return counts;
}

std::size_t count_changed(std::span<const int> base, std::span<const int> compressed) {
  if (base.size() != compressed.size()) throw std::invalid_argument("count_changed: length mismatch");
  std::size_t changed = 0;
  for (std::size_t i = 0; i < base.size(); ++i) changed += base[i] != compressed[i] ? 1 : 0;
  return changed;
}

namespace {

// log P[X = k] for X ~ Binomial(n, 1/2).
double log_binomial_half(std::size_t n, std::size_t k) {
  const double dn = static_cast<double>(n), dk = static_cast<double>(k);
  return std::lgamma(dn + 1) - std::lgamma(dk + 1) - std::lgamma(dn - dk + 1) - dn * std::log(2.0);
}

}  // namespace

McNemarResult mcnemar_test(std::size_t base_only, std::size_t compressed_only) {
  McNemarResult result;
  result.b = base_only;
  result.c = compressed_only;
  const std::size_t n = base_only + compressed_only;
  if (n == 0) return result;
  const std::size_t k = std::min(base_only, compressed_only);
  // P[X <= k] by log-sum-exp over the terms (stable for large n).
  std::vector<double> logs;
  for (std::size_t i = 0; i <= k; ++i) logs.push_back(log_binomial_half(n, i));
  const double top = *std::max_element(logs.begin(), logs.end());
  double sum = 0;
  for (double l : logs) sum += std::exp(l - top);
  const double cdf = std::exp(top) * sum;
  const double pmf = std::exp(logs.back());
  result.exact_p = std::min(1.0, 2.0 * cdf);
  result.mid_p = std::min(1.0, 2.0 * (cdf - 0.5 * pmf));
  const double diff = std::fabs(static_cast<double>(base_only) - static_cast<double>(compressed_only)) - 1.0;
  result.chi_square = diff * diff / static_cast<double>(n);
  result.chi_square_p = std::erfc(std::sqrt(result.chi_square / 2.0));
  return result;
}

McNemarResult mcnemar_test(const FlipCounts& flips) { return mcnemar_test(flips.base_only, flips.compressed_only); }

PermutationTestResult paired_permutation_test(std::size_t n_items, const PairedDifference& difference,
                                              const PermutationOptions& options) {
  if (n_items == 0) throw std::invalid_argument("paired_permutation_test: no items");
  if (options.permutations == 0) throw std::invalid_argument("paired_permutation_test: permutations must be positive");
  const auto items = identity_items(n_items);
  std::vector<std::uint8_t> swapped(n_items, 0);
  PermutationTestResult result;
  result.observed = difference(items, swapped);
  const double threshold = std::fabs(result.observed) - 1e-12 * std::max(1.0, std::fabs(result.observed));
  auto extreme = [&](double t) { return std::fabs(t) >= threshold; };

  const bool exact = n_items < 63 && (std::uint64_t{1} << n_items) <= options.permutations;
  if (exact) {
    const std::uint64_t patterns = std::uint64_t{1} << n_items;
    for (std::uint64_t mask = 0; mask < patterns; ++mask) {
      for (std::size_t i = 0; i < n_items; ++i) swapped[i] = static_cast<std::uint8_t>((mask >> i) & 1U);
      if (extreme(difference(items, swapped))) ++result.at_least_as_extreme;
    }
    result.exact = true;
    result.permutations = static_cast<std::size_t>(patterns);
    result.p_value = static_cast<double>(result.at_least_as_extreme) / static_cast<double>(patterns);
    return result;
  }
  std::mt19937_64 engine(options.seed);
  for (std::size_t r = 0; r < options.permutations; ++r) {
    for (std::size_t i = 0; i < n_items; ++i) swapped[i] = static_cast<std::uint8_t>(engine() >> 63);
    if (extreme(difference(items, swapped))) ++result.at_least_as_extreme;
  }
  result.permutations = options.permutations;
  result.p_value = static_cast<double>(1 + result.at_least_as_extreme) / static_cast<double>(1 + options.permutations);
  return result;
}

PairedComparison compare_paired(std::size_t n_items, const PairedDifference& difference,
                                const BootstrapOptions& bootstrap, const PermutationOptions& permutation) {
  PairedComparison comparison;
  comparison.permutation = paired_permutation_test(n_items, difference, permutation);
  comparison.difference = comparison.permutation.observed;
  std::vector<std::uint8_t> none;
  comparison.difference_ci = bootstrap_ci(
      n_items,
      [&](std::span<const std::size_t> items) {
        none.assign(n_items, 0);
        return difference(items, none);
      },
      bootstrap);
  return comparison;
}

PairedComparison compare_paired_scores(std::span<const double> base, std::span<const double> compressed,
                                       const VectorAggregate& aggregate, const BootstrapOptions& bootstrap,
                                       const PermutationOptions& permutation) {
  if (base.size() != compressed.size()) throw std::invalid_argument("compare_paired_scores: length mismatch");
  const VectorAggregate agg = aggregate ? aggregate : VectorAggregate(plain_mean);
  std::vector<double> b, c;
  const PairedDifference difference = [&](std::span<const std::size_t> items, std::span<const std::uint8_t> swapped) {
    b.resize(items.size());
    c.resize(items.size());
    for (std::size_t k = 0; k < items.size(); ++k) {
      const std::size_t i = items[k];
      const bool swap = swapped[i] != 0;
      b[k] = swap ? compressed[i] : base[i];
      c[k] = swap ? base[i] : compressed[i];
    }
    return agg(c) - agg(b);
  };
  PairedComparison comparison = compare_paired(base.size(), difference, bootstrap, permutation);
  comparison.base_score = agg(base);
  comparison.compressed_score = agg(compressed);
  const auto binary = [](std::span<const double> v) {
    return std::all_of(v.begin(), v.end(), [](double x) { return x == 0.0 || x == 1.0; });
  };
  if (binary(base) && binary(compressed)) {
    std::vector<int> bi(base.begin(), base.end()), ci(compressed.begin(), compressed.end());
    comparison.flips = count_flips(bi, ci);
    comparison.mcnemar = mcnemar_test(*comparison.flips);
  }
  return comparison;
}

}  // namespace biaslab::eval
