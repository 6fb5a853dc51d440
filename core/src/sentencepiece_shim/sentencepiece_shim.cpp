// libbiaslab_sentencepiece: libsentencepiece behind a C interface (see sentencepiece_shim_api.h
// for why). Built with hidden visibility; only biaslab_spm_get_api is exported.
#include <sentencepiece_processor.h>

#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "runtime/tokenizers/sentencepiece_shim_api.h"

namespace {

using sentencepiece::SentencePieceProcessor;

SentencePieceProcessor* as_processor(void* handle) { return static_cast<SentencePieceProcessor*>(handle); }

void report(biaslab_spm_bytes_fn error_fn, void* error_context, const std::string& message) {
  if (error_fn != nullptr) error_fn(error_context, message.data(), message.size());
}

void* load(const char* model_file, biaslab_spm_bytes_fn error_fn, void* error_context) {
  try {
    auto processor = std::make_unique<SentencePieceProcessor>();
    const auto status = processor->Load(model_file);
    if (!status.ok()) {
      report(error_fn, error_context, status.ToString());
      return nullptr;
    }
    return processor.release();
  } catch (const std::exception& e) {
    report(error_fn, error_context, e.what());
    return nullptr;
  }
}

void free_processor(void* handle) { delete as_processor(handle); }

int encode(void* handle, const char* text, size_t size, biaslab_spm_piece_fn piece_fn, void* context,
           biaslab_spm_bytes_fn error_fn, void* error_context) {
  try {
    const auto proto = as_processor(handle)->EncodeAsImmutableProto(absl::string_view(text, size));
    for (const auto& piece : proto.pieces()) {
      piece_fn(context, static_cast<int>(piece.id()), piece.piece().data(), piece.piece().size(), piece.begin(),
               piece.end());
    }
    return 0;
  } catch (const std::exception& e) {
    report(error_fn, error_context, e.what());
    return 1;
  }
}

int decode(void* handle, const int* ids, size_t count, biaslab_spm_bytes_fn text_fn, void* context,
           biaslab_spm_bytes_fn error_fn, void* error_context) {
  try {
    std::string text;
    const auto status = as_processor(handle)->Decode(std::vector<int>(ids, ids + count), &text);
    if (!status.ok()) {
      report(error_fn, error_context, status.ToString());
      return 1;
    }
    text_fn(context, text.data(), text.size());
    return 0;
  } catch (const std::exception& e) {
    report(error_fn, error_context, e.what());
    return 1;
  }
}

int piece_size(void* handle) { return as_processor(handle)->GetPieceSize(); }

int piece_to_id(void* handle, const char* piece, size_t size) {
  return as_processor(handle)->PieceToId(absl::string_view(piece, size));
}

void id_to_piece(void* handle, int id, biaslab_spm_bytes_fn piece_fn, void* context) {
  const auto& piece = as_processor(handle)->IdToPiece(id);
  piece_fn(context, piece.data(), piece.size());
}

int is_control(void* handle, int id) { return as_processor(handle)->IsControl(id) ? 1 : 0; }

int special_id(void* handle, int which) {
  const auto* processor = as_processor(handle);
  switch (which) {
    case 0: return processor->bos_id();
    case 1: return processor->eos_id();
    case 2: return processor->pad_id();
    case 3: return processor->unk_id();
    default: return -1;
  }
}

const biaslab_spm_api kApi = {BIASLAB_SPM_SHIM_API_VERSION, load, free_processor, encode, decode, piece_size,
                              piece_to_id, id_to_piece, is_control, special_id};

}  // namespace

extern "C" __attribute__((visibility("default"))) const biaslab_spm_api* biaslab_spm_get_api(void) { return &kApi; }
