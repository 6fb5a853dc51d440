// JSON form of ResultRow / ExampleRow, used for a node's stored results (results.jsonl,
// examples.jsonl in its artifact) and therefore read back when a cached node reports again.
//
//   {"model": "...", "metric": "...", "category": "overall", "value": 0.5,
//    "ci_low": 0.4, "ci_high": 0.6, "n": 1508, "extra": {...}}
//
// Absent optionals are omitted (null is accepted too). JSON has no NaN/Infinity and nlohmann
// would write them as null, so non-finite numbers are written as the strings "NaN",
// "Infinity", "-Infinity" and read back exactly. Unknown keys are rejected, so a row written by
// a newer format is never silently truncated.
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "biaslab/results.hpp"
#include "results/json_number.hpp"

namespace biaslab {
namespace {

[[noreturn]] void fail(std::string_view row_kind, std::string_view msg) {
  throw std::invalid_argument(std::string(row_kind) + ": " + std::string(msg));
}

const nlohmann::json& require(const nlohmann::json& j, std::string_view row_kind,
                              const char* key) {
  auto it = j.find(key);
  if (it == j.end()) fail(row_kind, std::string("missing key '") + key + "' in " + j.dump());
  return *it;
}

std::string get_string(const nlohmann::json& v, std::string_view row_kind, const char* key) {
  if (!v.is_string())
    fail(row_kind, std::string("key '") + key + "' must be a string, got " + v.dump());
  return v.get<std::string>();
}

double get_double(const nlohmann::json& v, std::string_view row_kind, const char* key) {
  try {
    return results::json_to_double(v);
  } catch (const std::invalid_argument& e) {
    fail(row_kind, std::string("key '") + key + "': " + e.what());
  }
}

void check_keys(const nlohmann::json& j, std::string_view row_kind,
                std::initializer_list<std::string_view> allowed) {
  if (!j.is_object()) fail(row_kind, "expected a JSON object, got " + j.dump());
  for (const auto& [key, value] : j.items()) {
    bool known = false;
    for (std::string_view a : allowed) known = known || key == a;
    if (!known) fail(row_kind, "unknown key '" + key + "'");
  }
}

}  // namespace

void to_json(nlohmann::json& j, const ResultRow& r) {
  j = nlohmann::json::object();
  j["model"] = r.model;
  j["metric"] = r.metric;
  j["category"] = r.category;
  j["value"] = results::double_to_json(r.value);
  if (r.ci_low) j["ci_low"] = results::double_to_json(*r.ci_low);
  if (r.ci_high) j["ci_high"] = results::double_to_json(*r.ci_high);
  if (r.n) j["n"] = *r.n;
  j["extra"] = r.extra;
}

void from_json(const nlohmann::json& j, ResultRow& r) {
  constexpr std::string_view kind = "result row";
  check_keys(j, kind, {"model", "metric", "category", "value", "ci_low", "ci_high", "n", "extra"});
  ResultRow out;
  out.model = get_string(require(j, kind, "model"), kind, "model");
  out.metric = get_string(require(j, kind, "metric"), kind, "metric");
  if (auto it = j.find("category"); it != j.end()) out.category = get_string(*it, kind, "category");
  out.value = get_double(require(j, kind, "value"), kind, "value");
  if (auto it = j.find("ci_low"); it != j.end() && !it->is_null())
    out.ci_low = get_double(*it, kind, "ci_low");
  if (auto it = j.find("ci_high"); it != j.end() && !it->is_null())
    out.ci_high = get_double(*it, kind, "ci_high");
  if (auto it = j.find("n"); it != j.end() && !it->is_null()) {
    if (!it->is_number_integer()) fail(kind, "key 'n' must be an integer, got " + it->dump());
    out.n = it->get<std::int64_t>();
  }
  if (auto it = j.find("extra"); it != j.end()) {
    if (!it->is_object()) fail(kind, "key 'extra' must be an object, got " + it->dump());
    out.extra = *it;
  }
  r = std::move(out);
}

void to_json(nlohmann::json& j, const ExampleRow& r) {
  j = nlohmann::json::object();
  j["model"] = r.model;
  j["metric"] = r.metric;
  j["example_id"] = r.example_id;
  j["values"] = r.values;
}

void from_json(const nlohmann::json& j, ExampleRow& r) {
  constexpr std::string_view kind = "example row";
  check_keys(j, kind, {"model", "metric", "example_id", "values"});
  ExampleRow out;
  out.model = get_string(require(j, kind, "model"), kind, "model");
  out.metric = get_string(require(j, kind, "metric"), kind, "metric");
  out.example_id = get_string(require(j, kind, "example_id"), kind, "example_id");
  const nlohmann::json& values = require(j, kind, "values");
  if (!values.is_object()) fail(kind, "key 'values' must be an object, got " + values.dump());
  out.values = values;
  r = std::move(out);
}

}  // namespace biaslab
