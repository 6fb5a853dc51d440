#pragma once
// Token streams and the batches a training step sees. Every batch is a pure function of
// (seed, step), so a resumed run sees exactly the batches an uninterrupted one would.
//
// Causal LMs: documents are encoded without special tokens and concatenated, each preceded by the
// end-of-text id (so every document is conditioned on it, as a scorer's {eos} prefix does). The
// stream is cut into windows of seq_len + 1 tokens with stride seq_len (input = window[:-1],
// label = window[1:]); each epoch visits every window once in a seeded random order.
//
// Masked LMs: documents separated by [SEP]; windows of seq_len - 2 tokens wrapped as
// [CLS] ... [SEP]. Masking as HF's DataCollatorForLanguageModeling: each non-special position is
// chosen with probability mlm_probability; a chosen token becomes [MASK] (80%), a uniformly random
// id of the vocabulary (10%) or stays (10%); labels are -100 except at chosen positions. Masks are
// drawn from a generator of (seed, step).
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "biaslab/export.hpp"
#include "biaslab/runtime/tokenizers/tokenizer.hpp"

namespace biaslab::runtime::train {

inline constexpr std::int64_t kIgnoreLabel = -100;

// Special ids of the training objective.
struct BIASLAB_API ObjectiveTokens {
  bool causal = true;
  std::int64_t vocab_size = 0;
  std::int64_t separator = 0;  // causal: end-of-text (document separator); masked: [SEP]
  std::int64_t cls = -1, mask = -1, pad = -1;  // masked only
  // causal: eos (else bos/sep); masked: cls, sep, mask, pad. Throws naming the missing token.
  static ObjectiveTokens from_tokenizer(const Tokenizer& tokenizer, bool causal, std::int64_t vocab_size);
};

// Encodes documents (no special tokens, in parallel) into one stream, each preceded (causal) or
// followed (masked) by the separator.
BIASLAB_API std::vector<std::int32_t> encode_stream(const Tokenizer& tokenizer, const std::vector<std::string>& documents,
                                                    const ObjectiveTokens& tokens);

struct Batch {
  torch::Tensor input_ids;  // [B,T] int64
  torch::Tensor labels;     // [B,T] int64, kIgnoreLabel where nothing is predicted
};

class BIASLAB_API BatchSource {
 public:
  // seq_len: model input length T. Throws if the stream holds less than one window.
  BatchSource(std::vector<std::int32_t> stream, const ObjectiveTokens& tokens, std::int64_t seq_len,
              std::uint64_t seed, double mlm_probability = 0.15, std::string what = "training");

  std::int64_t windows() const { return windows_; }
  std::int64_t seq_len() const { return seq_len_; }
  std::int64_t tokens() const { return static_cast<std::int64_t>(stream_.size()); }
  // The batch of training step `step` (shuffled windows, masks drawn for this step).
  Batch training_batch(std::int64_t step, std::int64_t batch_size) const;
  // Evaluation batch `index`: windows index*B .. in order (no shuffling), fixed masks; fewer rows
  // at the end; nullopt past the last window.
  std::optional<Batch> evaluation_batch(std::int64_t index, std::int64_t batch_size) const;

 private:
  Batch make_batch(const std::vector<std::int64_t>& windows, std::uint64_t mask_stream, std::int64_t mask_index) const;
  const std::vector<std::int64_t>& epoch_order(std::int64_t epoch) const;

  std::vector<std::int32_t> stream_;
  ObjectiveTokens tokens_;
  std::int64_t seq_len_ = 0;
  std::int64_t stride_ = 0;
  std::int64_t windows_ = 0;
  std::uint64_t seed_ = 0;
  double mlm_probability_ = 0.15;
  mutable std::mutex mutex_;
  mutable std::map<std::int64_t, std::vector<std::int64_t>> orders_;  // a few recent epochs
};

}  // namespace biaslab::runtime::train
