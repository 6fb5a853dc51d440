#pragma once
// Internal helpers of biaslab_eval: reading files and JSON with error messages that name the file,
// the line/column and the key, so a broken benchmark file points straight at the problem.
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace biaslab::eval::detail {

// Whole file as bytes; throws std::runtime_error naming the path when it cannot be read.
std::string read_file(const std::filesystem::path& path);

// Parses `text` (the contents of `source`) as JSON; parse errors become std::runtime_error with
// "source:line:column: message".
nlohmann::json parse_json(std::string_view text, const std::string& source);

// One line of a JSON-lines file; `line` is the 1-based line number for messages.
nlohmann::json parse_json_line(std::string_view text, const std::string& source, std::size_t line);

// Typed member access: throws std::runtime_error "<where>: missing key 'k'" / "key 'k' is not a
// string" etc. `where` describes the object (file and position) for the message.
const nlohmann::json& member(const nlohmann::json& object, std::string_view key, const std::string& where);
std::string string_member(const nlohmann::json& object, std::string_view key, const std::string& where);
std::int64_t integer_member(const nlohmann::json& object, std::string_view key, const std::string& where);
double number_member(const nlohmann::json& object, std::string_view key, const std::string& where);
const nlohmann::json& array_member(const nlohmann::json& object, std::string_view key, const std::string& where);
const nlohmann::json& object_member(const nlohmann::json& object, std::string_view key, const std::string& where);

}  // namespace biaslab::eval::detail
