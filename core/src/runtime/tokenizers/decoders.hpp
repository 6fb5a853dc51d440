#pragma once
// Decoders of tokenizer.json ("decoder" key): ByteLevel, WordPiece, Metaspace, BPEDecoder, CTC,
// Replace, ByteFallback, Fuse, Strip, Sequence. decode() joins what decode_chain() returns.
#include <memory>
#include <string>
#include <vector>

#include "runtime/tokenizers/json_util.hpp"

namespace biaslab::runtime::tokenizers {

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual std::vector<std::string> decode_chain(std::vector<std::string> tokens) const = 0;
  std::string decode(std::vector<std::string> tokens) const;
};

std::unique_ptr<Decoder> decoder_from_json(const Json& config, const std::string& where);

}  // namespace biaslab::runtime::tokenizers
