// Multiple-comparison control for the report's significance marks: a grid of hundreds of paired
// comparisons at p < 0.05 stars noise; R's p.adjust methods bound the error across the run.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>

#include "biaslab/report.hpp"

namespace biaslab::report {

Correction parse_correction(std::string_view text) {
  if (text == "bh" || text == "BH" || text == "fdr") return Correction::bh;
  if (text == "holm") return Correction::holm;
  if (text == "bonferroni") return Correction::bonferroni;
  if (text == "none") return Correction::none;
  throw std::invalid_argument("unknown correction '" + std::string(text) + "' (bh, holm, bonferroni or none)");
}

std::string_view to_string(Correction c) {
  switch (c) {
    case Correction::bh: return "bh";
    case Correction::holm: return "holm";
    case Correction::bonferroni: return "bonferroni";
    case Correction::none: return "none";
  }
  return "?";
}

std::string_view describe(Correction c) {
  switch (c) {
    case Correction::bh: return "Benjamini-Hochberg (false discovery rate)";
    case Correction::holm: return "Holm (family-wise error rate)";
    case Correction::bonferroni: return "Bonferroni (family-wise error rate)";
    case Correction::none: return "none (raw p-values)";
  }
  return "?";
}

std::vector<double> adjust_p_values(std::span<const double> p, Correction method) {
  std::vector<std::size_t> order;  // indices of the non-NaN p-values, ascending p (stable)
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (std::isnan(p[i])) continue;
    if (p[i] < 0.0 || p[i] > 1.0) throw std::invalid_argument("p-value " + std::to_string(p[i]) + " is not in [0, 1]");
    order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return p[a] < p[b]; });
  std::vector<double> out(p.begin(), p.end());
  const double n = static_cast<double>(order.size());
  switch (method) {
    case Correction::none: break;
    case Correction::bonferroni:
      for (std::size_t i : order) out[i] = std::min(1.0, n * p[i]);
      break;
    case Correction::holm: {
      double running_max = 0.0;
      for (std::size_t rank = 0; rank < order.size(); ++rank) {
        running_max = std::max(running_max, (n - static_cast<double>(rank)) * p[order[rank]]);
        out[order[rank]] = std::min(1.0, running_max);
      }
      break;
    }
    case Correction::bh: {
      double running_min = 1.0;
      for (std::size_t rank = order.size(); rank-- > 0;) {
        running_min = std::min(running_min, n / static_cast<double>(rank + 1) * p[order[rank]]);
        out[order[rank]] = running_min;
      }
      break;
    }
  }
  return out;
}

}  // namespace biaslab::report
