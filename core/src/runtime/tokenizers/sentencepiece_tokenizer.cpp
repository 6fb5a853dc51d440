#include "runtime/tokenizers/sentencepiece_tokenizer.hpp"

#include <sentencepiece_processor.h>

#include <stdexcept>

#include "runtime/tokenizers/unicode.hpp"

namespace biaslab::runtime::tokenizers {

SentencePieceTokenizer::SentencePieceTokenizer(const std::filesystem::path& model_file, bool add_bos, bool add_eos)
    : processor_(std::make_unique<sentencepiece::SentencePieceProcessor>()), add_bos_(add_bos), add_eos_(add_eos) {
  const auto status = processor_->Load(model_file.string());
  if (!status.ok()) throw std::runtime_error("cannot load SentencePiece model " + model_file.string() + ": " + status.ToString());
}

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

Encoding SentencePieceTokenizer::encode(std::string_view text, bool add_special_tokens) const {
  if (const auto bad = unicode::find_invalid_utf8(text); bad != std::string_view::npos) {
    throw std::invalid_argument("tokenizer " + name() + ": input is not valid UTF-8 (byte " + std::to_string(bad) + ")");
  }
  Encoding encoding;
  auto add_special = [&](int id) {
    if (id < 0) return;
    encoding.ids.push_back(id);
    encoding.tokens.push_back(processor_->IdToPiece(id));
    encoding.offsets.emplace_back(0, 0);
    encoding.special_tokens_mask.push_back(1);
  };
  if (add_special_tokens && add_bos_) add_special(processor_->bos_id());
  const auto proto = processor_->EncodeAsImmutableProto(absl::string_view(text.data(), text.size()));
  for (const auto& piece : proto.pieces()) {
    encoding.ids.push_back(piece.id());
    encoding.tokens.push_back(piece.piece());
    encoding.offsets.emplace_back(piece.begin(), piece.end());
    encoding.special_tokens_mask.push_back(0);
  }
  if (add_special_tokens && add_eos_) add_special(processor_->eos_id());
  return encoding;
}

std::string SentencePieceTokenizer::decode(const std::vector<std::int64_t>& ids, bool skip_special_tokens) const {
  std::vector<int> kept;
  kept.reserve(ids.size());
  const int size = processor_->GetPieceSize();
  for (const auto id : ids) {
    if (id < 0 || id >= size) continue;
    if (skip_special_tokens && processor_->IsControl(static_cast<int>(id))) continue;
    kept.push_back(static_cast<int>(id));
  }
  std::string text;
  const auto status = processor_->Decode(kept, &text);
  if (!status.ok()) throw std::runtime_error("SentencePiece decode failed: " + status.ToString());
  return text;
}

std::optional<std::int64_t> SentencePieceTokenizer::token_to_id(std::string_view token) const {
  const int id = processor_->PieceToId(absl::string_view(token.data(), token.size()));
  // PieceToId answers unk_id for unknown pieces.
  if (id < 0 || processor_->IdToPiece(id) != token) return std::nullopt;
  return id;
}

std::optional<std::string> SentencePieceTokenizer::id_to_token(std::int64_t id) const {
  if (id < 0 || id >= processor_->GetPieceSize()) return std::nullopt;
  return processor_->IdToPiece(static_cast<int>(id));
}

std::size_t SentencePieceTokenizer::vocab_size() const { return static_cast<std::size_t>(processor_->GetPieceSize()); }

SpecialTokenIds SentencePieceTokenizer::processor_special_ids() const {
  auto valid = [](int id) -> std::optional<std::int64_t> {
    if (id < 0) return std::nullopt;
    return id;
  };
  SpecialTokenIds ids;
  ids.bos = valid(processor_->bos_id());
  ids.eos = valid(processor_->eos_id());
  ids.pad = valid(processor_->pad_id());
  ids.unk = valid(processor_->unk_id());
  return ids;
}

}  // namespace biaslab::runtime::tokenizers
