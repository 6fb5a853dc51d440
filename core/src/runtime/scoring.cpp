#include "biaslab/runtime/scoring.hpp"

#include <algorithm>
#include <functional>
#include <numeric>
#include <stdexcept>

#include "biaslab/runtime/row_groups.hpp"

namespace biaslab::runtime {

namespace {

using torch::Tensor;
using Sequences = std::vector<std::vector<std::int64_t>>;

// Groups sequence indices by length (longest first) into batches.
std::vector<std::vector<std::size_t>> length_buckets(const std::vector<std::size_t>& items,
                                                     const std::vector<std::size_t>& lengths,
                                                     const ScoringOptions& options) {
  if (options.batch_size <= 0) throw std::invalid_argument("scoring: batch_size must be positive");
  std::vector<std::size_t> order = items;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return lengths[a] > lengths[b]; });
  std::vector<std::vector<std::size_t>> batches;
  for (std::size_t i : order) {
    const bool full = !batches.empty() &&
                      (static_cast<std::int64_t>(batches.back().size()) >= options.batch_size ||
                       (options.max_batch_tokens > 0 &&
                        static_cast<std::int64_t>((batches.back().size() + 1) * lengths[batches.back().front()]) >
                            options.max_batch_tokens));
    if (batches.empty() || full) batches.emplace_back();
    batches.back().push_back(i);
  }
  return batches;
}

std::int64_t pad_id(const LanguageModel& model) {
  const auto& pad = model.config().pad_token_id;
  return pad && *pad >= 0 && *pad < model.config().vocab_size ? *pad : 0;
}

struct Batch {
  Tensor ids, mask;  // [B,T] int64 CPU
  std::int64_t length = 0;
};

// Right-padded batch of the given sequences.
Batch make_batch(const Sequences& sequences, const std::vector<std::size_t>& members, std::int64_t pad) {
  Batch b;
  for (auto i : members) b.length = std::max<std::int64_t>(b.length, static_cast<std::int64_t>(sequences[i].size()));
  const auto B = static_cast<std::int64_t>(members.size());
  b.ids = torch::full({B, b.length}, pad, torch::kLong);
  b.mask = torch::zeros({B, b.length}, torch::kLong);
  auto ids = b.ids.accessor<std::int64_t, 2>();
  auto mask = b.mask.accessor<std::int64_t, 2>();
  for (std::int64_t r = 0; r < B; ++r) {
    const auto& s = sequences[members[r]];
    for (std::size_t t = 0; t < s.size(); ++t) {
      ids[r][t] = s[t];
      mask[r][t] = 1;
    }
  }
  return b;
}

// Rows of [rows, V] logits computed at once: about 256 MiB of float32.
std::int64_t head_chunk_rows(const LanguageModel& model) {
  return std::max<std::int64_t>(1, (std::int64_t{1} << 26) / model.config().vocab_size);
}

// Calls fn(k, lp) with lp = log_softmax(head(hidden at flat rows[k .. k + n)))), [n, V] float32, in order
// of k. hidden is [B, T, H] with attention mask [B, T].
void head_log_softmax(const LanguageModel& model, const Tensor& hidden, const Tensor& mask,
                      const std::vector<std::int64_t>& rows, const std::function<void(std::size_t, const Tensor&)>& fn) {
  const auto flat = hidden.reshape({-1, hidden.size(-1)});
  const auto device = flat.device();
  const auto chunk = head_chunk_rows(model);
  if (!model.needs_whole_sequences()) {
    for (std::size_t off = 0; off < rows.size(); off += static_cast<std::size_t>(chunk)) {
      const auto n = std::min<std::size_t>(static_cast<std::size_t>(chunk), rows.size() - off);
      auto r = torch::from_blob(const_cast<std::int64_t*>(rows.data() + off), {static_cast<std::int64_t>(n)}, torch::kLong)
                   .to(device);
      fn(off, torch::log_softmax(model.logits_from_hidden(flat.index_select(0, r)), -1));
    }
    return;
  }
  // The head sees every real position of each sequence, grouped by sequence, as in a forward pass
  // over that sequence alone; the requested rows are then picked from those logits.
  const auto T = hidden.size(1);
  const auto groups = RowGroups::from_attention_mask(mask);
  std::size_t k = 0;
  std::size_t seq = 0;
  while (k < rows.size()) {
    // Whole sequences starting at the one of rows[k], up to the chunk budget (at least one).
    if (rows[k] / T < static_cast<std::int64_t>(seq))
      throw std::logic_error("scoring: rows must be ordered by sequence");
    seq = static_cast<std::size_t>(rows[k] / T);
    std::vector<std::int64_t> packed, lengths;
    std::vector<std::int64_t> position_of(static_cast<std::size_t>(groups.rows), -1);
    std::size_t last = seq;
    for (; last < groups.groups.size(); ++last) {
      std::int64_t n = 0;
      for (const auto& s : groups.groups[last]) n += s.end - s.begin;
      if (!lengths.empty() && static_cast<std::int64_t>(packed.size()) + n > chunk) break;
      for (const auto& s : groups.groups[last])
        for (auto r = s.begin; r < s.end; ++r) {
          position_of[static_cast<std::size_t>(r)] = static_cast<std::int64_t>(packed.size());
          packed.push_back(r);
        }
      lengths.push_back(n);
    }
    Tensor lp;
    {
      ScopedRowGroups scope(RowGroups::from_lengths(lengths));
      auto index = torch::tensor(packed, torch::kLong).to(device);
      lp = torch::log_softmax(model.logits_from_hidden(flat.index_select(0, index)), -1);
    }
    const std::size_t first = k;
    std::vector<std::int64_t> picked;
    for (; k < rows.size() && static_cast<std::size_t>(rows[k] / T) < last; ++k) {
      const auto at = position_of[static_cast<std::size_t>(rows[k])];
      if (at < 0) throw std::logic_error("scoring: requested row " + std::to_string(rows[k]) + " is padding");
      picked.push_back(at);
    }
    fn(first, lp.index_select(0, torch::tensor(picked, torch::kLong).to(lp.device())));
    seq = last;
  }
}

void check_ids(const LanguageModel& model, const std::vector<std::int64_t>& ids, const char* what) {
  for (auto id : ids) {
    if (id < 0 || id >= model.config().vocab_size) {
      throw std::invalid_argument(std::string(what) + ": token id " + std::to_string(id) + " is outside [0, " +
                                  std::to_string(model.config().vocab_size) + ")");
    }
  }
}

Tensor causal_positions(const Tensor& mask) { return (torch::cumsum(mask, 1) - 1).clamp_min(0); }

}  // namespace

std::vector<float> head_logprobs(const LanguageModel& model, const Tensor& hidden, const Tensor& mask,
                                 const std::vector<std::int64_t>& rows, const std::vector<std::int64_t>& targets) {
  if (rows.size() != targets.size()) throw std::invalid_argument("head_logprobs: one target per row needed");
  std::vector<float> out(rows.size());
  head_log_softmax(model, hidden, mask, rows, [&](std::size_t k, const Tensor& lp) {
    auto t = torch::from_blob(const_cast<std::int64_t*>(targets.data() + k), {lp.size(0), 1}, torch::kLong).to(lp.device());
    auto picked = lp.gather(1, t).squeeze(1).to(torch::kCPU).contiguous();
    std::copy_n(picked.data_ptr<float>(), picked.size(0), out.begin() + static_cast<std::ptrdiff_t>(k));
  });
  return out;
}

std::vector<CausalScore> score_causal(const LanguageModel& model, const Sequences& sequences,
                                      const std::vector<std::int64_t>& prefix, const ScoringOptions& options) {
  if (!model.is_causal()) throw std::invalid_argument("score_causal: " + model.architecture() + " is not a causal LM");
  c10::InferenceMode guard;
  check_ids(model, prefix, "score_causal prefix");
  const std::size_t start = prefix.empty() ? 1 : prefix.size();  // first scored index in prefix + seq
  Sequences full(sequences.size());
  std::vector<std::size_t> lengths(sequences.size()), items;
  std::vector<CausalScore> results(sequences.size());
  for (std::size_t i = 0; i < sequences.size(); ++i) {
    check_ids(model, sequences[i], "score_causal");
    full[i] = prefix;
    full[i].insert(full[i].end(), sequences[i].begin(), sequences[i].end());
    lengths[i] = full[i].size();
    results[i].first_scored = prefix.empty() ? 1 : 0;
    if (full[i].size() > start) items.push_back(i);
  }
  const auto pad = pad_id(model);
  for (const auto& members : length_buckets(items, lengths, options)) {
    auto batch = make_batch(full, members, pad);
    auto hidden = model.hidden_states(batch.ids, batch.mask, causal_positions(batch.mask));
    std::vector<std::int64_t> rows, targets;
    for (std::size_t r = 0; r < members.size(); ++r) {
      const auto& s = full[members[r]];
      for (std::size_t t = start - 1; t + 1 < s.size(); ++t) {
        rows.push_back(static_cast<std::int64_t>(r) * batch.length + static_cast<std::int64_t>(t));
        targets.push_back(s[t + 1]);
      }
    }
    auto lp = head_logprobs(model, hidden, batch.mask, rows, targets);
    std::size_t k = 0;
    for (auto i : members) {
      const auto n = full[i].size() - start;
      results[i].logprobs.assign(lp.begin() + static_cast<std::ptrdiff_t>(k), lp.begin() + static_cast<std::ptrdiff_t>(k + n));
      k += n;
    }
  }
  return results;
}

Tensor next_token_logprobs(const LanguageModel& model, const Sequences& contexts, const ScoringOptions& options) {
  if (!model.is_causal()) {
    throw std::invalid_argument("next_token_logprobs: " + model.architecture() + " is not a causal LM");
  }
  c10::InferenceMode guard;
  std::vector<std::size_t> lengths(contexts.size()), items(contexts.size());
  for (std::size_t i = 0; i < contexts.size(); ++i) {
    if (contexts[i].empty()) throw std::invalid_argument("next_token_logprobs: context " + std::to_string(i) + " is empty");
    check_ids(model, contexts[i], "next_token_logprobs");
    lengths[i] = contexts[i].size();
    items[i] = i;
  }
  auto out = torch::empty({static_cast<std::int64_t>(contexts.size()), model.config().vocab_size}, torch::kFloat32);
  const auto pad = pad_id(model);
  for (const auto& members : length_buckets(items, lengths, options)) {
    auto batch = make_batch(contexts, members, pad);
    auto hidden = model.hidden_states(batch.ids, batch.mask, causal_positions(batch.mask));
    std::vector<std::int64_t> rows, dest;
    for (std::size_t r = 0; r < members.size(); ++r) {
      rows.push_back(static_cast<std::int64_t>(r) * batch.length + static_cast<std::int64_t>(contexts[members[r]].size()) - 1);
      dest.push_back(static_cast<std::int64_t>(members[r]));
    }
    head_log_softmax(model, hidden, batch.mask, rows, [&](std::size_t k, const Tensor& lp) {
      out.index_copy_(0, torch::tensor(dest, torch::kLong).narrow(0, static_cast<std::int64_t>(k), lp.size(0)),
                      lp.to(torch::kCPU, torch::kFloat32));
    });
  }
  return out;
}

std::vector<std::vector<float>> masked_logprobs(const LanguageModel& model, const std::vector<MaskedQuery>& queries,
                                                const ScoringOptions& options) {
  if (!model.is_masked()) throw std::invalid_argument("masked_logprobs: " + model.architecture() + " is not a masked LM");
  c10::InferenceMode guard;
  Sequences ids(queries.size());
  std::vector<std::size_t> lengths(queries.size()), items(queries.size());
  for (std::size_t i = 0; i < queries.size(); ++i) {
    const auto& q = queries[i];
    if (q.input_ids.empty()) throw std::invalid_argument("masked_logprobs: query " + std::to_string(i) + " is empty");
    if (q.positions.size() != q.targets.size()) {
      throw std::invalid_argument("masked_logprobs: query " + std::to_string(i) + " has " +
                                  std::to_string(q.positions.size()) + " positions but " +
                                  std::to_string(q.targets.size()) + " targets");
    }
    check_ids(model, q.input_ids, "masked_logprobs");
    check_ids(model, q.targets, "masked_logprobs target");
    for (auto p : q.positions) {
      if (p < 0 || p >= static_cast<std::int64_t>(q.input_ids.size())) {
        throw std::invalid_argument("masked_logprobs: position " + std::to_string(p) + " outside query " +
                                    std::to_string(i) + " of length " + std::to_string(q.input_ids.size()));
      }
    }
    ids[i] = q.input_ids;
    lengths[i] = q.input_ids.size();
    items[i] = i;
  }
  std::vector<std::vector<float>> results(queries.size());
  const auto pad = pad_id(model);
  for (const auto& members : length_buckets(items, lengths, options)) {
    auto batch = make_batch(ids, members, pad);
    auto hidden = model.hidden_states(batch.ids, batch.mask);
    std::vector<std::int64_t> rows, targets;
    for (std::size_t r = 0; r < members.size(); ++r) {
      const auto& q = queries[members[r]];
      for (std::size_t k = 0; k < q.positions.size(); ++k) {
        rows.push_back(static_cast<std::int64_t>(r) * batch.length + q.positions[k]);
        targets.push_back(q.targets[k]);
      }
    }
    auto lp = head_logprobs(model, hidden, batch.mask, rows, targets);
    std::size_t k = 0;
    for (auto i : members) {
      const auto n = queries[i].positions.size();
      results[i].assign(lp.begin() + static_cast<std::ptrdiff_t>(k), lp.begin() + static_cast<std::ptrdiff_t>(k + n));
      k += n;
    }
  }
  return results;
}

std::vector<std::vector<float>> pseudo_log_likelihood(const LanguageModel& model, const Sequences& sequences,
                                                      std::int64_t mask_id, const Sequences& positions,
                                                      const ScoringOptions& options) {
  if (!positions.empty() && positions.size() != sequences.size()) {
    throw std::invalid_argument("pseudo_log_likelihood: positions must be empty or one list per sequence");
  }
  std::vector<MaskedQuery> queries;
  std::vector<std::size_t> owner;
  for (std::size_t i = 0; i < sequences.size(); ++i) {
    std::vector<std::int64_t> scored;
    if (positions.empty()) {
      scored.resize(sequences[i].size());
      std::iota(scored.begin(), scored.end(), 0);
    } else {
      scored = positions[i];
    }
    for (auto p : scored) {
      if (p < 0 || p >= static_cast<std::int64_t>(sequences[i].size())) {
        throw std::invalid_argument("pseudo_log_likelihood: position " + std::to_string(p) + " outside sequence " +
                                    std::to_string(i));
      }
      MaskedQuery q{sequences[i], {p}, {sequences[i][static_cast<std::size_t>(p)]}};
      q.input_ids[static_cast<std::size_t>(p)] = mask_id;
      queries.push_back(std::move(q));
      owner.push_back(i);
    }
  }
  auto lp = masked_logprobs(model, queries, options);
  std::vector<std::vector<float>> results(sequences.size());
  for (std::size_t k = 0; k < queries.size(); ++k) results[owner[k]].push_back(lp[k][0]);
  return results;
}

Tensor mean_pooled_hidden_states(const LanguageModel& model, const Sequences& sequences, const ScoringOptions& options) {
  c10::InferenceMode guard;
  std::vector<std::size_t> lengths(sequences.size()), items(sequences.size());
  for (std::size_t i = 0; i < sequences.size(); ++i) {
    if (sequences[i].empty()) throw std::invalid_argument("mean_pooled_hidden_states: sequence " + std::to_string(i) + " is empty");
    check_ids(model, sequences[i], "mean_pooled_hidden_states");
    lengths[i] = sequences[i].size();
    items[i] = i;
  }
  auto out = torch::empty({static_cast<std::int64_t>(sequences.size()), model.config().hidden_size}, torch::kFloat32);
  const auto pad = pad_id(model);
  for (const auto& members : length_buckets(items, lengths, options)) {
    auto batch = make_batch(sequences, members, pad);
    std::optional<Tensor> positions;
    if (model.is_causal()) positions = causal_positions(batch.mask);
    auto hidden = model.hidden_states(batch.ids, batch.mask, positions).to(torch::kCPU);
    auto mask = batch.mask.to(torch::kFloat32).unsqueeze(-1);
    auto mean = (hidden * mask).sum(1) / mask.sum(1);
    std::vector<std::int64_t> dest(members.begin(), members.end());
    out.index_copy_(0, torch::tensor(dest, torch::kLong), mean);
  }
  return out;
}

}  // namespace biaslab::runtime
