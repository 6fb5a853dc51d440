#pragma once
// Which model probabilities the reference causal scorers read, and how they reduce them — as pure
// functions of token ids, so a plugin only runs the forward passes.
//
// bias-bench causal scoring (CrowS-Pairs _joint_log_probability, StereoSet _likelihood_score_generative):
//   p[0]  = softmax(logits([<|endoftext|>]))[0][t[0]]      (a separate one-token pass)
//   p[i]  = softmax(logits(t))[i-1][t[i]], i >= 1          (a pass over the sentence WITHOUT the BOS)
//   score = 2 ** (np.sum([np.log2(p) ...]) / len(t))       (geometric-mean token probability)
// lm-evaluation-harness loglikelihood (multiple_choice):
//   empty context: ctx = [prefix_id] unless cont[0] == prefix_id (then ctx = cont[:1], cont = cont[1:]);
//   input = (ctx + cont)[-(max_length+1):][:-1]; the last len(cont) positions predict cont; ll = sum of
//   their log-softmax values (the sum is taken by torch in float32 — the plugin does it).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <biaslab/export.hpp>

namespace biaslab::eval {

enum class CausalPass {
  bos_only,  // input = [bos_id], read position 0
  sentence,  // input = the sentence ids (no BOS prepended)
};

struct CausalProbabilityTarget {
  CausalPass pass = CausalPass::sentence;
  std::size_t position = 0;   // logits row to read in that pass
  std::int64_t token_id = 0;  // vocabulary entry whose softmax probability is taken
};

// One target per token of `sentence_ids` (empty input -> empty plan).
BIASLAB_API std::vector<CausalProbabilityTarget> bias_bench_causal_targets(std::span<const std::int64_t> sentence_ids);

// 2 ** (numpy_sum(log2(p_i)) / n). `token_probabilities` are the float32 softmax values as doubles, in
// the order of bias_bench_causal_targets. NaN for an empty span. log2/pow are the C library's, which is
// what numpy uses on CPUs without AVX-512; with AVX-512 numpy >= 1.22 switches to Intel SVML and results
// can differ in the last bit (~1e-16 relative).
BIASLAB_API double bias_bench_causal_score(std::span<const double> token_probabilities);

struct LoglikelihoodRequest {
  std::vector<std::int64_t> context;       // context tokens after the empty-context rule
  std::vector<std::int64_t> continuation;  // tokens whose log-probabilities are summed
  std::vector<std::int64_t> input_ids;     // what the model sees: (context + continuation)[-(L+1):][:-1]
  std::vector<std::size_t> positions;      // logits rows predicting continuation[k]
};

// lm-eval request for (context_ids, continuation_ids). When `context_ids` is empty the empty-context
// rule with `prefix_token_id` (BOS if the tokenizer has one, else EOS) applies. `max_length` truncates
// from the left as lm-eval does. Throws when the continuation is empty.
BIASLAB_API LoglikelihoodRequest lm_eval_loglikelihood_request(std::span<const std::int64_t> context_ids,
                                                               std::span<const std::int64_t> continuation_ids,
                                                               std::int64_t prefix_token_id,
                                                               std::optional<std::size_t> max_length = std::nullopt);

// lm-eval's _encode_pair text step: trailing whitespace of the context (Python str.rstrip(): ASCII
// whitespace incl. \v\f and \x1c-\x1f) moves to the front of the continuation. Returns (context,
// continuation); the causal backend then encodes context+continuation and context and takes
// whole[len(context_ids):] as the continuation ids.
BIASLAB_API std::pair<std::string, std::string> lm_eval_split_context(std::string_view context,
                                                                      std::string_view continuation);

}  // namespace biaslab::eval
