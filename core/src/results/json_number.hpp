#pragma once
// Numbers in the results files. JSON has no NaN or Infinity (nlohmann writes them as null, which
// would turn +inf into "missing"), so non-finite values travel as the strings "NaN",
// "Infinity" and "-Infinity", the spellings JavaScript and Python's float() accept.
#include <string>

#include <nlohmann/json.hpp>

namespace biaslab::results {

nlohmann::json double_to_json(double v);
// Accepts a number, one of the three strings above, or null (NaN). Throws std::invalid_argument
// naming the value otherwise.
double json_to_double(const nlohmann::json& v);
// Shortest text that parses back to exactly `v` ("0.1", "1", "1e-05"); "NaN", "Inf", "-Inf"
// (the spellings R, pandas and Python all read) for non-finite values.
std::string format_double_exact(double v);

}  // namespace biaslab::results
