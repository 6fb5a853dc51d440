#pragma once
// What bias metrics ask of a language model: per-token log-probabilities (causal LMs),
// log-probabilities of targets at masked positions (masked LMs, pseudo-log-likelihood) and
// mean-pooled last hidden states (SEAT-style embeddings). Sequences are batched by length with
// right padding and an attention mask; each result equals that of the sequence run alone (up to
// float32 noise, ~1e-6), so batch size and composition do not change metric values.
#include <cstdint>
#include <numeric>
#include <vector>

#include <torch/torch.h>

#include "biaslab/export.hpp"
#include "biaslab/runtime/model.hpp"

namespace biaslab::runtime {

struct ScoringOptions {
  std::int64_t batch_size = 16;        // sequences per forward pass
  std::int64_t max_batch_tokens = 0;   // > 0: also cap batch_size x padded length
};

struct CausalScore {
  // Index (in the sequence) of the first scored token: 0 with a prefix, 1 without (the first
  // token has no context then).
  std::size_t first_scored = 0;
  // logprobs[k] = log p(seq[first_scored + k] | prefix + seq[0 .. first_scored + k)), natural log,
  // from float32 log_softmax.
  std::vector<float> logprobs;
  double sum() const { return std::accumulate(logprobs.begin(), logprobs.end(), 0.0); }
};

// log_softmax(head(hidden))[targets[k]] at flat position rows[k] (= b * T + t) of a batch's last hidden
// state [B, T, H] with attention mask [B, T]; rows ordered by sequence. The head runs on the requested
// rows only -- or, when model.needs_whole_sequences() (dynamic int8 with per-sequence activation
// ranges), on every real position of each sequence, so each sequence's logits equal those of a forward
// pass over it alone. In chunks: [rows, V] logits never exceed ~256 MiB.
BIASLAB_API std::vector<float> head_logprobs(const LanguageModel& model, const torch::Tensor& hidden,
                                             const torch::Tensor& mask, const std::vector<std::int64_t>& rows,
                                             const std::vector<std::int64_t>& targets);

// Causal LMs. `prefix` (e.g. {bos id}) is prepended to every sequence as conditioning context and
// is not scored. Position ids are cumsum(mask) - 1 (so the prefix takes positions 0..). Sequences
// with nothing to score give an empty result.
BIASLAB_API std::vector<CausalScore> score_causal(const LanguageModel& model,
                                                  const std::vector<std::vector<std::int64_t>>& sequences,
                                                  const std::vector<std::int64_t>& prefix = {},
                                                  const ScoringOptions& options = {});

// Causal LMs: log-softmax over the vocabulary of the next token after each context, [N, V]
// float32 on CPU (e.g. bias-bench's separate <|endoftext|> pass: contexts = {{bos}}).
BIASLAB_API torch::Tensor next_token_logprobs(const LanguageModel& model,
                                              const std::vector<std::vector<std::int64_t>>& contexts,
                                              const ScoringOptions& options = {});

// Masked LMs: input_ids already contain the mask token(s); result[k] = log p(targets[k] at
// positions[k]) from log_softmax over the vocabulary at that position.
struct MaskedQuery {
  std::vector<std::int64_t> input_ids;
  std::vector<std::int64_t> positions;
  std::vector<std::int64_t> targets;
};
BIASLAB_API std::vector<std::vector<float>> masked_logprobs(const LanguageModel& model,
                                                            const std::vector<MaskedQuery>& queries,
                                                            const ScoringOptions& options = {});

// Pseudo-log-likelihood terms: for each sequence and each position p in positions[i] (all
// positions when `positions` is empty), mask p alone with mask_id and take log p(original id).
BIASLAB_API std::vector<std::vector<float>> pseudo_log_likelihood(
    const LanguageModel& model, const std::vector<std::vector<std::int64_t>>& sequences, std::int64_t mask_id,
    const std::vector<std::vector<std::int64_t>>& positions = {}, const ScoringOptions& options = {});

// Mean over all tokens (special tokens included, as bias-bench SEAT) of the last hidden state,
// [N, H] float32 on CPU, not normalised.
BIASLAB_API torch::Tensor mean_pooled_hidden_states(const LanguageModel& model,
                                                    const std::vector<std::vector<std::int64_t>>& sequences,
                                                    const ScoringOptions& options = {});

}  // namespace biaslab::runtime
