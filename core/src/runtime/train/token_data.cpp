#include "biaslab/runtime/train/token_data.hpp"

#include <numeric>
#include <stdexcept>

#include "biaslab/runtime/train/deterministic_random.hpp"

namespace biaslab::runtime::train {

namespace {
// Generator streams: one purpose each, so no two draws of a run share a sequence.
constexpr std::uint64_t kOrderStream = 0x6f72646572ULL;      // "order"
constexpr std::uint64_t kTrainMaskStream = 0x6d61736bULL;    // "mask"
constexpr std::uint64_t kEvalMaskStream = 0x6576616cULL;     // "eval"
}  // namespace

ObjectiveTokens ObjectiveTokens::from_tokenizer(const Tokenizer& tokenizer, bool causal, std::int64_t vocab_size) {
  ObjectiveTokens t;
  t.causal = causal;
  t.vocab_size = vocab_size;
  const auto where = "tokenizer " + tokenizer.name();
  if (causal) {
    auto sep = tokenizer.eos_id();
    if (!sep) sep = tokenizer.bos_id();
    if (!sep) sep = tokenizer.sep_id();
    if (!sep) throw std::runtime_error(where + " has no end-of-text token (eos_token) to separate documents");
    t.separator = *sep;
  } else {
    auto need = [&](std::optional<std::int64_t> id, const char* name) {
      if (!id) throw std::runtime_error(where + " has no " + name + " token, which masked-LM training needs");
      return *id;
    };
    t.cls = need(tokenizer.cls_id(), "cls");
    t.separator = need(tokenizer.sep_id(), "sep");
    t.mask = need(tokenizer.mask_id(), "mask");
    t.pad = need(tokenizer.pad_id(), "pad");
  }
  for (auto id : {t.separator, t.cls, t.mask, t.pad}) {
    if (id >= vocab_size) {
      throw std::runtime_error(where + ": special token id " + std::to_string(id) + " is outside the model's " +
                               std::to_string(vocab_size) + "-token vocabulary");
    }
  }
  return t;
}

std::vector<std::int32_t> encode_stream(const Tokenizer& tokenizer, const std::vector<std::string>& documents,
                                        const ObjectiveTokens& tokens) {
  std::vector<std::int32_t> stream;
  constexpr std::size_t kChunk = 4096;  // bounded memory for the encodings of large corpora
  for (std::size_t begin = 0; begin < documents.size(); begin += kChunk) {
    const std::size_t end = std::min(documents.size(), begin + kChunk);
    const std::vector<std::string> chunk(documents.begin() + static_cast<std::ptrdiff_t>(begin),
                                         documents.begin() + static_cast<std::ptrdiff_t>(end));
    for (const auto& enc : tokenizer.encode_batch(chunk, /*add_special_tokens=*/false)) {
      if (tokens.causal) stream.push_back(static_cast<std::int32_t>(tokens.separator));
      for (auto id : enc.ids) {
        if (id < 0 || id >= tokens.vocab_size) {
          throw std::runtime_error("tokenizer " + tokenizer.name() + " produced id " + std::to_string(id) +
                                   ", outside the model's " + std::to_string(tokens.vocab_size) + "-token vocabulary");
        }
        stream.push_back(static_cast<std::int32_t>(id));
      }
      if (!tokens.causal) stream.push_back(static_cast<std::int32_t>(tokens.separator));
    }
  }
  return stream;
}

BatchSource::BatchSource(std::vector<std::int32_t> stream, const ObjectiveTokens& tokens, std::int64_t seq_len,
                         std::uint64_t seed, double mlm_probability, std::string what)
    : stream_(std::move(stream)), tokens_(tokens), seq_len_(seq_len), seed_(seed), mlm_probability_(mlm_probability) {
  if (tokens_.causal) {
    if (seq_len < 1) throw std::invalid_argument("sequence length must be at least 1");
    stride_ = seq_len;
    windows_ = stream_.size() > 1 ? (static_cast<std::int64_t>(stream_.size()) - 1) / seq_len : 0;
  } else {
    if (seq_len < 3) throw std::invalid_argument("masked-LM sequence length must be at least 3 ([CLS] x [SEP])");
    stride_ = seq_len - 2;
    windows_ = static_cast<std::int64_t>(stream_.size()) / stride_;
  }
  if (windows_ < 1) {
    throw std::runtime_error("the " + what + " corpus has " + std::to_string(stream_.size()) +
                             " tokens, fewer than one sequence of " + std::to_string(seq_len) +
                             " tokens (add text or lower seq_len)");
  }
}

const std::vector<std::int64_t>& BatchSource::epoch_order(std::int64_t epoch) const {
  if (auto it = orders_.find(epoch); it != orders_.end()) return it->second;
  if (orders_.size() >= 4) orders_.erase(orders_.begin());
  std::vector<std::int64_t> order(static_cast<std::size_t>(windows_));
  std::iota(order.begin(), order.end(), 0);
  auto rng = make_generator(seed_, kOrderStream, static_cast<std::uint64_t>(epoch));
  shuffle_in_place(order, rng);
  return orders_.emplace(epoch, std::move(order)).first->second;
}

Batch BatchSource::training_batch(std::int64_t step, std::int64_t batch_size) const {
  std::vector<std::int64_t> windows;
  windows.reserve(static_cast<std::size_t>(batch_size));
  {
    std::lock_guard lock(mutex_);
    for (std::int64_t b = 0; b < batch_size; ++b) {
      const std::int64_t g = step * batch_size + b;
      windows.push_back(epoch_order(g / windows_)[static_cast<std::size_t>(g % windows_)]);
    }
  }
  return make_batch(windows, kTrainMaskStream, step);
}

std::optional<Batch> BatchSource::evaluation_batch(std::int64_t index, std::int64_t batch_size) const {
  const std::int64_t first = index * batch_size;
  if (first >= windows_) return std::nullopt;
  std::vector<std::int64_t> windows;
  for (std::int64_t w = first; w < std::min(windows_, first + batch_size); ++w) windows.push_back(w);
  return make_batch(windows, kEvalMaskStream, index);
}

Batch BatchSource::make_batch(const std::vector<std::int64_t>& windows, std::uint64_t mask_stream,
                              std::int64_t mask_index) const {
  const auto B = static_cast<std::int64_t>(windows.size());
  const auto T = seq_len_;
  auto ids = torch::empty({B, T}, torch::kLong);
  auto labels = torch::full({B, T}, kIgnoreLabel, torch::kLong);
  auto id = ids.accessor<std::int64_t, 2>();
  auto label = labels.accessor<std::int64_t, 2>();
  if (tokens_.causal) {
    for (std::int64_t b = 0; b < B; ++b) {
      const auto* w = stream_.data() + windows[static_cast<std::size_t>(b)] * stride_;
      for (std::int64_t t = 0; t < T; ++t) {
        id[b][t] = w[t];
        label[b][t] = w[t + 1];
      }
    }
    return {ids, labels};
  }
  auto rng = make_generator(seed_, mask_stream, static_cast<std::uint64_t>(mask_index));
  bool any = false;
  for (std::int64_t b = 0; b < B; ++b) {
    const auto* w = stream_.data() + windows[static_cast<std::size_t>(b)] * stride_;
    id[b][0] = tokens_.cls;
    id[b][T - 1] = tokens_.separator;
    for (std::int64_t t = 1; t < T - 1; ++t) {
      const std::int64_t original = w[t - 1];
      id[b][t] = original;
      const bool special = original == tokens_.cls || original == tokens_.separator || original == tokens_.mask ||
                           original == tokens_.pad;
      // Draw for every position so the stream of draws does not depend on the text.
      const double choose = uniform01(rng), how = uniform01(rng);
      const auto random_id = static_cast<std::int64_t>(uniform_below(rng, static_cast<std::uint64_t>(tokens_.vocab_size)));
      if (special || choose >= mlm_probability_) continue;
      any = true;
      label[b][t] = original;
      if (how < 0.8) {
        id[b][t] = tokens_.mask;
      } else if (how < 0.9) {
        id[b][t] = random_id;
      }
    }
  }
  if (!any) {
    // A tiny batch drew no position: predict the first ordinary token, so the loss is defined.
    for (std::int64_t b = 0; b < B && !any; ++b) {
      for (std::int64_t t = 1; t < T - 1 && !any; ++t) {
        const auto original = id[b][t];
        if (original == tokens_.cls || original == tokens_.separator || original == tokens_.pad) continue;
        label[b][t] = original;
        id[b][t] = tokens_.mask;
        any = true;
      }
    }
  }
  return {ids, labels};
}

}  // namespace biaslab::runtime::train
