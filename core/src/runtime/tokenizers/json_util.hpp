#pragma once
// JSON access with error messages that say where (file and key path) something is wrong.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace biaslab::runtime::tokenizers {

using Json = nlohmann::json;

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parses a JSON file; throws ConfigError naming the file (and line/column for syntax errors).
Json read_json_file(const std::filesystem::path& path);

// `where` is a human-readable location such as "tokenizer.json: normalizer.normalizers[1]".
const Json& json_member(const Json& object, std::string_view key, const std::string& where);
bool json_has(const Json& object, std::string_view key);  // present and not null
std::string json_string(const Json& object, std::string_view key, const std::string& where);
std::optional<std::string> json_optional_string(const Json& object, std::string_view key, const std::string& where);
bool json_bool(const Json& object, std::string_view key, bool fallback, const std::string& where);
std::int64_t json_int(const Json& object, std::string_view key, std::int64_t fallback, const std::string& where);
// Type name of a component object ("type" member), or "" when absent.
std::string json_type(const Json& object);
// Text of a special token entry in tokenizer_config.json: a string or {"content": ...}.
std::optional<std::string> json_token_content(const Json& value);

}  // namespace biaslab::runtime::tokenizers
