#include "biaslab/eval/likelihood.hpp"

#include <cmath>
#include <limits>
#include <stdexcept>

#include "biaslab/eval/python_numeric.hpp"

namespace biaslab::eval {

std::vector<CausalProbabilityTarget> bias_bench_causal_targets(std::span<const std::int64_t> sentence_ids) {
  std::vector<CausalProbabilityTarget> targets;
  targets.reserve(sentence_ids.size());
  for (std::size_t i = 0; i < sentence_ids.size(); ++i) {
    if (i == 0)
      targets.push_back({CausalPass::bos_only, 0, sentence_ids[0]});
    else
      targets.push_back({CausalPass::sentence, i - 1, sentence_ids[i]});
  }
  return targets;
}

double bias_bench_causal_score(std::span<const double> token_probabilities) {
  if (token_probabilities.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::vector<double> log2s(token_probabilities.size());
  for (std::size_t i = 0; i < log2s.size(); ++i) log2s[i] = std::log2(token_probabilities[i]);
  double score = numpy_sum(log2s);
  score /= static_cast<double>(log2s.size());
  return std::pow(2.0, score);
}

LoglikelihoodRequest lm_eval_loglikelihood_request(std::span<const std::int64_t> context_ids,
                                                   std::span<const std::int64_t> continuation_ids,
                                                   std::int64_t prefix_token_id,
                                                   std::optional<std::size_t> max_length) {
  if (continuation_ids.empty()) throw std::invalid_argument("lm_eval_loglikelihood_request: empty continuation");
  LoglikelihoodRequest request;
  if (context_ids.empty()) {
    if (continuation_ids.front() != prefix_token_id) {
      request.context = {prefix_token_id};
      request.continuation.assign(continuation_ids.begin(), continuation_ids.end());
    } else {
      request.context = {continuation_ids.front()};
      request.continuation.assign(continuation_ids.begin() + 1, continuation_ids.end());
    }
  } else {
    request.context.assign(context_ids.begin(), context_ids.end());
    request.continuation.assign(continuation_ids.begin(), continuation_ids.end());
  }
  std::vector<std::int64_t> whole = request.context;
  whole.insert(whole.end(), request.continuation.begin(), request.continuation.end());
  std::size_t start = 0;
  if (max_length && whole.size() > *max_length + 1) start = whole.size() - (*max_length + 1);
  request.input_ids.assign(whole.begin() + static_cast<std::ptrdiff_t>(start), whole.end() - 1);
  const std::size_t inplen = request.input_ids.size();
  const std::size_t contlen = request.continuation.size();
  if (contlen > inplen)  // the continuation alone exceeds the window; lm-eval would score garbage
    throw std::invalid_argument("lm_eval_loglikelihood_request: continuation longer than max_length");
  for (std::size_t k = 0; k < contlen; ++k) request.positions.push_back(inplen - contlen + k);
  return request;
}

namespace {

// Length in bytes of a Python-whitespace code point ending at `end` (0 if none).
std::size_t trailing_space_length(std::string_view text, std::size_t end) {
  if (end == 0) return 0;
  const auto last = static_cast<unsigned char>(text[end - 1]);
  if (last == ' ' || (last >= 0x09 && last <= 0x0D) || (last >= 0x1C && last <= 0x1F)) return 1;
  // Multi-byte whitespace: U+0085, U+00A0, U+1680, U+2000-200A, U+2028, U+2029, U+202F, U+205F, U+3000.
  auto ends_with = [&](std::string_view suffix) {
    return end >= suffix.size() && text.substr(end - suffix.size(), suffix.size()) == suffix;
  };
  for (std::string_view s : {"\xC2\x85", "\xC2\xA0"})
    if (ends_with(s)) return 2;
  for (std::string_view s : {"\xE1\x9A\x80", "\xE2\x80\xA8", "\xE2\x80\xA9", "\xE2\x80\xAF", "\xE2\x81\x9F",
                             "\xE3\x80\x80"})
    if (ends_with(s)) return 3;
  if (end >= 3 && text.substr(end - 3, 2) == "\xE2\x80") {
    const auto c = static_cast<unsigned char>(text[end - 1]);
    if (c >= 0x80 && c <= 0x8A) return 3;
  }
  return 0;
}

}  // namespace

std::pair<std::string, std::string> lm_eval_split_context(std::string_view context, std::string_view continuation) {
  std::size_t end = context.size();
  while (std::size_t n = trailing_space_length(context, end)) end -= n;
  std::string moved(context.substr(end));
  return {std::string(context.substr(0, end)), moved + std::string(continuation)};
}

}  // namespace biaslab::eval
