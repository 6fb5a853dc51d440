#include "runtime/tokenizers/sentencepiece_tokenizer.hpp"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime/tokenizers/sentencepiece_shim_api.h"
#include "runtime/tokenizers/unicode.hpp"

#ifndef BIASLAB_SPM_SHIM_NAME
#define BIASLAB_SPM_SHIM_NAME "libbiaslab_sentencepiece.so"
#endif
#ifndef BIASLAB_SPM_SHIM_LIBDIR
#define BIASLAB_SPM_SHIM_LIBDIR "lib"
#endif

namespace biaslab::runtime::tokenizers {
namespace {

namespace fs = std::filesystem;

void append_bytes(void* context, const char* data, size_t size) {
  static_cast<std::string*>(context)->append(data, size);
}

// Where the shim may be: $BIASLAB_SENTENCEPIECE_SHIM, else next to the module holding this code
// (<libdir>/biaslab/ for libbiaslab_runtime.so; ../<libdir>/biaslab/ for an executable in bin/ or
// tests/ that has this code linked in).
std::vector<fs::path> shim_candidates() {
  std::vector<fs::path> candidates;
  if (const char* env = std::getenv("BIASLAB_SENTENCEPIECE_SHIM"); env != nullptr && *env != '\0') {
    candidates.emplace_back(env);
    return candidates;
  }
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&append_bytes), &info) != 0 && info.dli_fname != nullptr) {
    std::error_code ec;
    const fs::path module = fs::weakly_canonical(fs::path(info.dli_fname), ec);
    const fs::path dir = module.parent_path();
    candidates.push_back(dir / "biaslab" / BIASLAB_SPM_SHIM_NAME);
    candidates.push_back(dir.parent_path() / BIASLAB_SPM_SHIM_LIBDIR / "biaslab" / BIASLAB_SPM_SHIM_NAME);
  }
  return candidates;
}

const biaslab_spm_api* load_shim() {
  static std::once_flag once;
  static const biaslab_spm_api* api = nullptr;
  static std::string failure;
  std::call_once(once, [] {
    std::string tried;
    for (const auto& candidate : shim_candidates()) {
      if (!tried.empty()) tried += ", ";
      tried += candidate.string();
      // Never closed: the processor objects it creates live until exit at the latest.
      void* library = dlopen(candidate.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
      if (library == nullptr) {
        if (std::error_code ec; fs::exists(candidate, ec)) {
          failure = "cannot load " + candidate.string() + ": " + dlerror();
          return;
        }
        continue;
      }
      auto get_api = reinterpret_cast<const biaslab_spm_api* (*)()>(dlsym(library, "biaslab_spm_get_api"));
      if (get_api == nullptr) {
        failure = candidate.string() + " does not export biaslab_spm_get_api";
        return;
      }
      const auto* candidate_api = get_api();
      if (candidate_api->api_version != BIASLAB_SPM_SHIM_API_VERSION) {
        failure = candidate.string() + " has shim API version " + std::to_string(candidate_api->api_version) +
                  ", expected " + std::to_string(BIASLAB_SPM_SHIM_API_VERSION);
        return;
      }
      api = candidate_api;
      return;
    }
    failure = "the SentencePiece support library " BIASLAB_SPM_SHIM_NAME
              " was not found (tried: " + tried + "); set BIASLAB_SENTENCEPIECE_SHIM to its path";
  });
  if (api == nullptr) throw std::runtime_error(failure);
  return api;
}

}  // namespace

SentencePieceTokenizer::SentencePieceTokenizer(const std::filesystem::path& model_file, bool add_bos, bool add_eos)
    : api_(load_shim()), processor_(nullptr), add_bos_(add_bos), add_eos_(add_eos) {
  std::string error;
  processor_ = api_->load(model_file.c_str(), append_bytes, &error);
  if (processor_ == nullptr) {
    throw std::runtime_error("cannot load SentencePiece model " + model_file.string() + ": " + error);
  }
}

SentencePieceTokenizer::~SentencePieceTokenizer() { api_->free(processor_); }

Encoding SentencePieceTokenizer::encode(std::string_view text, bool add_special_tokens) const {
  if (const auto bad = unicode::find_invalid_utf8(text); bad != std::string_view::npos) {
    throw std::invalid_argument("tokenizer " + name() + ": input is not valid UTF-8 (byte " + std::to_string(bad) + ")");
  }
  Encoding encoding;
  auto add_special = [&](int id) {
    if (id < 0) return;
    encoding.ids.push_back(id);
    encoding.tokens.push_back(id_to_token(id).value_or(""));
    encoding.offsets.emplace_back(0, 0);
    encoding.special_tokens_mask.push_back(1);
  };
  if (add_special_tokens && add_bos_) add_special(api_->special_id(processor_, 0));
  std::string error;
  const auto on_piece = [](void* context, int id, const char* piece, size_t piece_size, size_t begin, size_t end) {
    auto& out = *static_cast<Encoding*>(context);
    out.ids.push_back(id);
    out.tokens.emplace_back(piece, piece_size);
    out.offsets.emplace_back(begin, end);
    out.special_tokens_mask.push_back(0);
  };
  if (api_->encode(processor_, text.data(), text.size(), on_piece, &encoding, append_bytes, &error) != 0) {
    throw std::runtime_error("SentencePiece encode failed: " + error);
  }
  if (add_special_tokens && add_eos_) add_special(api_->special_id(processor_, 1));
  return encoding;
}

std::string SentencePieceTokenizer::decode(const std::vector<std::int64_t>& ids, bool skip_special_tokens) const {
  std::vector<int> kept;
  kept.reserve(ids.size());
  const int size = api_->piece_size(processor_);
  for (const auto id : ids) {
    if (id < 0 || id >= size) continue;
    if (skip_special_tokens && api_->is_control(processor_, static_cast<int>(id)) != 0) continue;
    kept.push_back(static_cast<int>(id));
  }
  std::string text;
  std::string error;
  if (api_->decode(processor_, kept.data(), kept.size(), append_bytes, &text, append_bytes, &error) != 0) {
    throw std::runtime_error("SentencePiece decode failed: " + error);
  }
  return text;
}

std::optional<std::int64_t> SentencePieceTokenizer::token_to_id(std::string_view token) const {
  const int id = api_->piece_to_id(processor_, token.data(), token.size());
  // PieceToId answers unk_id for unknown pieces.
  if (id < 0 || id_to_token(id) != std::optional<std::string>(std::string(token))) return std::nullopt;
  return id;
}

std::optional<std::string> SentencePieceTokenizer::id_to_token(std::int64_t id) const {
  if (id < 0 || id >= api_->piece_size(processor_)) return std::nullopt;
  std::string piece;
  api_->id_to_piece(processor_, static_cast<int>(id), append_bytes, &piece);
  return piece;
}

std::size_t SentencePieceTokenizer::vocab_size() const { return static_cast<std::size_t>(api_->piece_size(processor_)); }

SpecialTokenIds SentencePieceTokenizer::processor_special_ids() const {
  auto valid = [&](int which) -> std::optional<std::int64_t> {
    const int id = api_->special_id(processor_, which);
    if (id < 0) return std::nullopt;
    return id;
  };
  SpecialTokenIds ids;
  ids.bos = valid(0);
  ids.eos = valid(1);
  ids.pad = valid(2);
  ids.unk = valid(3);
  return ids;
}

}  // namespace biaslab::runtime::tokenizers
