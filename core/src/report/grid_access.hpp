#pragma once
// Reading one grid variable out of a cell's grid JSON, by top-level or dotted (flattened) name.
#include <string>

#include <nlohmann/json.hpp>

namespace biaslab::report::detail {

// grid["size"], or for "size.name" grid["size"]["name"] (when no top-level key has the dotted
// name). nullptr when absent.
const nlohmann::json* grid_value(const nlohmann::json& grid, const std::string& name);

}  // namespace biaslab::report::detail
