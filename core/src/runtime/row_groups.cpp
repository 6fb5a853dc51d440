#include "biaslab/runtime/row_groups.hpp"

#include <algorithm>
#include <stdexcept>

namespace biaslab::runtime {

namespace {
thread_local const RowGroups* t_current = nullptr;
}  // namespace

RowGroups RowGroups::from_attention_mask(const torch::Tensor& attention_mask) {
  if (!attention_mask.defined() || attention_mask.dim() != 2)
    throw std::invalid_argument("row groups: attention mask must be a [batch, length] tensor");
  const auto mask = attention_mask.to(torch::kCPU, torch::kLong).contiguous();
  const auto B = mask.size(0), T = mask.size(1);
  const auto* m = mask.data_ptr<std::int64_t>();
  RowGroups out;
  out.rows = B * T;
  out.groups.resize(static_cast<std::size_t>(B));
  for (std::int64_t b = 0; b < B; ++b) {
    auto& spans = out.groups[static_cast<std::size_t>(b)];
    for (std::int64_t t = 0; t < T; ++t) {
      if (m[b * T + t] == 0) continue;
      const auto row = b * T + t;
      if (!spans.empty() && spans.back().end == row) {
        ++spans.back().end;
      } else {
        spans.push_back({row, row + 1});
      }
    }
  }
  return out;
}

RowGroups RowGroups::from_lengths(const std::vector<std::int64_t>& lengths) {
  RowGroups out;
  for (auto n : lengths) {
    if (n < 0) throw std::invalid_argument("row groups: negative sequence length");
    out.groups.push_back({{out.rows, out.rows + n}});
    out.rows += n;
  }
  return out;
}

std::vector<RowSpan> RowGroups::uncovered() const {
  std::vector<RowSpan> covered;
  for (const auto& g : groups)
    for (const auto& s : g)
      if (s.end > s.begin) covered.push_back(s);
  std::sort(covered.begin(), covered.end(), [](const RowSpan& a, const RowSpan& b) { return a.begin < b.begin; });
  std::vector<RowSpan> gaps;
  std::int64_t next = 0;
  for (const auto& s : covered) {
    if (s.begin > next) gaps.push_back({next, s.begin});
    next = std::max(next, s.end);
  }
  if (next < rows) gaps.push_back({next, rows});
  return gaps;
}

const RowGroups* current_row_groups() { return t_current; }

ScopedRowGroups::ScopedRowGroups(RowGroups groups) : groups_(std::move(groups)), previous_(t_current) {
  t_current = &groups_;
}

ScopedRowGroups::~ScopedRowGroups() { t_current = previous_; }

}  // namespace biaslab::runtime
