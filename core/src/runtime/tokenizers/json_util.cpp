#include "runtime/tokenizers/json_util.hpp"

#include <fstream>
#include <sstream>

namespace biaslab::runtime::tokenizers {

Json read_json_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError("cannot open " + path.string());
  std::ostringstream buffer;
  buffer << in.rdbuf();
  try {
    return Json::parse(buffer.str());
  } catch (const Json::parse_error& e) {
    throw ConfigError(path.string() + ": invalid JSON: " + e.what());
  }
}

const Json& json_member(const Json& object, std::string_view key, const std::string& where) {
  if (!object.is_object()) throw ConfigError(where + ": expected a JSON object");
  const auto it = object.find(key);
  if (it == object.end()) throw ConfigError(where + ": missing key '" + std::string(key) + "'");
  return *it;
}

bool json_has(const Json& object, std::string_view key) {
  if (!object.is_object()) return false;
  const auto it = object.find(key);
  return it != object.end() && !it->is_null();
}

std::string json_string(const Json& object, std::string_view key, const std::string& where) {
  const Json& value = json_member(object, key, where);
  if (!value.is_string()) throw ConfigError(where + "." + std::string(key) + ": expected a string");
  return value.get<std::string>();
}

std::optional<std::string> json_optional_string(const Json& object, std::string_view key, const std::string& where) {
  if (!json_has(object, key)) return std::nullopt;
  return json_string(object, key, where);
}

bool json_bool(const Json& object, std::string_view key, bool fallback, const std::string& where) {
  if (!json_has(object, key)) return fallback;
  const Json& value = object.at(std::string(key));
  if (!value.is_boolean()) throw ConfigError(where + "." + std::string(key) + ": expected true/false");
  return value.get<bool>();
}

std::int64_t json_int(const Json& object, std::string_view key, std::int64_t fallback, const std::string& where) {
  if (!json_has(object, key)) return fallback;
  const Json& value = object.at(std::string(key));
  if (!value.is_number_integer()) throw ConfigError(where + "." + std::string(key) + ": expected an integer");
  return value.get<std::int64_t>();
}

std::string json_type(const Json& object) {
  if (!object.is_object()) return "";
  const auto it = object.find("type");
  if (it == object.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

std::optional<std::string> json_token_content(const Json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object()) {
    const auto it = value.find("content");
    if (it != value.end() && it->is_string()) return it->get<std::string>();
  }
  return std::nullopt;
}

}  // namespace biaslab::runtime::tokenizers
