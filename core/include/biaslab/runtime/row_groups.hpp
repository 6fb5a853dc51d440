#pragma once
// Which rows of a batched activation belong to which sequence.
//
// Batching is an implementation detail of scoring: a sequence's result must not depend on the
// other sequences it was batched with, nor on padding. Float kernels are row-wise, so this holds
// for them by construction. A kernel whose result for a row depends on other rows of the same
// call -- dynamic int8 with one activation range per call, as PyTorch's quantize_dynamic does --
// needs to know the sequences inside a padded batch to reproduce "one sentence per forward pass".
// LanguageModel sets the groups from the attention mask for the duration of a forward pass; such
// kernels read them with current_row_groups(). Thread-local: concurrent forwards on other threads
// keep their own groups.
#include <cstdint>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "biaslab/export.hpp"

namespace biaslab::runtime {

struct RowSpan {
  std::int64_t begin = 0, end = 0;  // rows [begin, end) of the flattened [rows, features] input
};

struct RowGroups {
  // Rows of the flattened input a kernel receives (product of all but the last dimension).
  std::int64_t rows = 0;
  // One group per sequence: the spans of its real (non-padding) rows. Rows in no group are padding
  // and may be computed in any way (their values never reach a real position).
  std::vector<std::vector<RowSpan>> groups;

  // Groups of a [B, T] attention mask (1 = token): group b = the real positions of sequence b,
  // flattened as b * T + t.
  BIASLAB_API static RowGroups from_attention_mask(const torch::Tensor& attention_mask);
  // Consecutive runs of the given lengths (sequences packed without padding).
  BIASLAB_API static RowGroups from_lengths(const std::vector<std::int64_t>& lengths);
  // Rows that belong to no group (padding), as spans.
  BIASLAB_API std::vector<RowSpan> uncovered() const;
};

// The groups of the forward pass running on this thread, or nullptr outside one (a kernel then
// treats its whole input as one sequence).
BIASLAB_API const RowGroups* current_row_groups();

// Sets the groups of this thread until destroyed (restores the previous ones; nests).
class BIASLAB_API ScopedRowGroups {
 public:
  explicit ScopedRowGroups(RowGroups groups);
  ~ScopedRowGroups();
  ScopedRowGroups(const ScopedRowGroups&) = delete;
  ScopedRowGroups& operator=(const ScopedRowGroups&) = delete;

 private:
  RowGroups groups_;
  const RowGroups* previous_;
};

}  // namespace biaslab::runtime
