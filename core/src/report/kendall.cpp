// Kendall's tau-b with the semantics of scipy.stats.kendalltau (variant "b", method "auto"):
// the paper's correlation between LM score and bias score.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <stdexcept>
#include <vector>

#include "biaslab/report.hpp"

namespace biaslab::report {
namespace {

// Sums over tie groups of one variable: sum t(t-1), sum t(t-1)(t-2), sum t(t-1)(2t+5).
struct TieSums {
  double pairs = 0, triples = 0, variance = 0;
};

TieSums tie_sums(const std::vector<double>& v) {
  std::map<double, double> counts;
  for (double x : v) counts[x] += 1;
  TieSums s;
  for (const auto& [value, t] : counts) {
    (void)value;
    s.pairs += t * (t - 1);
    s.triples += t * (t - 1) * (t - 2);
    s.variance += t * (t - 1) * (2 * t + 5);
  }
  return s;
}

// P(T <= c) * 2 for T = number of inversions of a uniformly random permutation of n elements
// (the Mahonian distribution), capped at 1: the exact two-sided p-value without ties.
double exact_p(std::size_t n, double c) {
  const std::size_t total = n * (n - 1) / 2;
  std::vector<double> counts(total + 1, 0.0);
  counts[0] = 1.0;
  // Permutations of k elements by inversion count, built up from k-1: counts_k[j] =
  // sum_{i=0..k-1} counts_{k-1}[j-i]. Normalised by k at each step to stay in range.
  std::vector<double> next(total + 1);
  for (std::size_t k = 2; k <= n; ++k) {
    const std::size_t max_prev = (k - 1) * (k - 2) / 2, max_now = k * (k - 1) / 2;
    double window = 0;
    for (std::size_t j = 0; j <= max_now; ++j) {
      if (j <= max_prev) window += counts[j];
      if (j >= k && j - k <= max_prev) window -= counts[j - k];
      next[j] = window / static_cast<double>(k);
    }
    for (std::size_t j = 0; j <= max_now; ++j) counts[j] = next[j];
  }
  double cdf = 0;
  for (std::size_t j = 0; j <= total && static_cast<double>(j) <= c; ++j) cdf += counts[j];
  return std::min(1.0, 2.0 * cdf);
}

}  // namespace

KendallTau kendall_tau_b(std::span<const double> x_all, std::span<const double> y_all) {
  if (x_all.size() != y_all.size())
    throw std::invalid_argument("kendall_tau_b: x has " + std::to_string(x_all.size()) +
                                " values, y has " + std::to_string(y_all.size()));
  std::vector<double> x, y;
  for (std::size_t i = 0; i < x_all.size(); ++i) {
    if (std::isnan(x_all[i]) || std::isnan(y_all[i])) continue;
    x.push_back(x_all[i]);
    y.push_back(y_all[i]);
  }
  KendallTau r;
  r.n = x.size();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if (r.n < 2) {
    r.tau_b = r.p_value = nan;
    return r;
  }
  // O(n^2) is fine: a study has at most a few thousand (cell, model) points.
  double concordant = 0, discordant = 0, untied_x = 0, untied_y = 0;
  for (std::size_t i = 0; i < r.n; ++i)
    for (std::size_t j = i + 1; j < r.n; ++j) {
      const int dx = (x[i] > x[j]) - (x[i] < x[j]);
      const int dy = (y[i] > y[j]) - (y[i] < y[j]);
      untied_x += dx != 0;
      untied_y += dy != 0;
      if (dx * dy > 0) concordant += 1;
      if (dx * dy < 0) discordant += 1;
    }
  if (untied_x == 0 || untied_y == 0) {
    r.tau_b = r.p_value = nan;
    return r;
  }
  const double s = concordant - discordant;
  r.tau_b = s / std::sqrt(untied_x * untied_y);

  const double n = static_cast<double>(r.n);
  const double total = n * (n - 1) / 2;
  const TieSums tx = tie_sums(x), ty = tie_sums(y);
  const bool ties = tx.pairs > 0 || ty.pairs > 0;
  // With no ties, discordant pairs = inversions (scipy's "dis" counts them that way).
  const double c = std::min(discordant, total - discordant);
  if (!ties && (r.n <= 33 || c <= 1)) {
    r.exact = true;
    // c <= 1 in closed form (1 or n - 1 permutations of n! lie that far out): large n stays cheap.
    if (c == 0) r.p_value = std::min(1.0, 2.0 * std::exp(-std::lgamma(n + 1)));
    else if (c == 1 && r.n > 33) r.p_value = std::min(1.0, 2.0 * std::exp(-std::lgamma(n)));
    else r.p_value = exact_p(r.n, c);
    return r;
  }
  const double v0 = n * (n - 1) * (2 * n + 5);
  double variance = (v0 - tx.variance - ty.variance) / 18.0 + tx.pairs * ty.pairs / (2 * n * (n - 1));
  if (r.n > 2) variance += tx.triples * ty.triples / (9 * n * (n - 1) * (n - 2));
  const double z = s / std::sqrt(variance);
  r.p_value = std::erfc(std::fabs(z) / std::sqrt(2.0));
  return r;
}

}  // namespace biaslab::report
