#include "eval/file_io.hpp"

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace biaslab::eval::detail {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path.string() + ": cannot open file");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw std::runtime_error(path.string() + ": read error");
  return std::move(buffer).str();
}

namespace {

// Converts a byte offset into "line:column" (both 1-based) for messages.
std::string position_of(std::string_view text, std::size_t offset, std::size_t first_line) {
  offset = std::min(offset, text.size());
  std::size_t line = first_line;
  std::size_t column = 1;
  for (std::size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return std::to_string(line) + ":" + std::to_string(column);
}

nlohmann::json parse_at(std::string_view text, const std::string& source, std::size_t first_line) {
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::parse_error& e) {
    // e.byte is 1-based and points just past the offending character.
    const std::size_t offset = e.byte > 0 ? e.byte - 1 : 0;
    throw std::runtime_error(source + ":" + position_of(text, offset, first_line) +
                             ": invalid JSON: " + e.what());
  }
}

}  // namespace

nlohmann::json parse_json(std::string_view text, const std::string& source) {
  return parse_at(text, source, 1);
}

nlohmann::json parse_json_line(std::string_view text, const std::string& source, std::size_t line) {
  return parse_at(text, source, line);
}

const nlohmann::json& member(const nlohmann::json& object, std::string_view key, const std::string& where) {
  if (!object.is_object()) throw std::runtime_error(where + ": expected a JSON object");
  const auto it = object.find(key);
  if (it == object.end()) throw std::runtime_error(where + ": missing key '" + std::string(key) + "'");
  return *it;
}

std::string string_member(const nlohmann::json& object, std::string_view key, const std::string& where) {
  const auto& value = member(object, key, where);
  if (!value.is_string()) throw std::runtime_error(where + ": key '" + std::string(key) + "' is not a string");
  return value.get<std::string>();
}

std::int64_t integer_member(const nlohmann::json& object, std::string_view key, const std::string& where) {
  const auto& value = member(object, key, where);
  if (!value.is_number_integer())
    throw std::runtime_error(where + ": key '" + std::string(key) + "' is not an integer");
  return value.get<std::int64_t>();
}

double number_member(const nlohmann::json& object, std::string_view key, const std::string& where) {
  const auto& value = member(object, key, where);
  if (!value.is_number()) throw std::runtime_error(where + ": key '" + std::string(key) + "' is not a number");
  return value.get<double>();
}

const nlohmann::json& array_member(const nlohmann::json& object, std::string_view key, const std::string& where) {
  const auto& value = member(object, key, where);
  if (!value.is_array()) throw std::runtime_error(where + ": key '" + std::string(key) + "' is not an array");
  return value;
}

const nlohmann::json& object_member(const nlohmann::json& object, std::string_view key, const std::string& where) {
  const auto& value = member(object, key, where);
  if (!value.is_object()) throw std::runtime_error(where + ": key '" + std::string(key) + "' is not an object");
  return value;
}

}  // namespace biaslab::eval::detail
