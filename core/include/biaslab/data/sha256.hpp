#pragma once
// SHA-256 (OpenSSL EVP) of byte strings and files, as lower-case hex.
#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "biaslab/export.hpp"

namespace biaslab::data {

// Incremental hasher: update() any number of times, then hex_digest() once.
class BIASLAB_API Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(const void* data, std::size_t size);
  void update(std::string_view bytes) { update(bytes.data(), bytes.size()); }
  // Finishes the hash; the object is reset and can be reused afterwards.
  std::string hex_digest();
  void reset();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

BIASLAB_API std::string sha256_hex(std::string_view bytes);
// Hashes a whole file; throws DataError naming the file when it cannot be read.
BIASLAB_API std::string sha256_file(const std::filesystem::path& file);

// True for a 64-character lower-case hex string (the form the registry and the Hub use).
BIASLAB_API bool is_sha256_hex(std::string_view text) noexcept;

}  // namespace biaslab::data
