#include "report/grid_access.hpp"

namespace biaslab::report::detail {

const nlohmann::json* grid_value(const nlohmann::json& grid, const std::string& name) {
  if (!grid.is_object()) return nullptr;
  if (auto it = grid.find(name); it != grid.end()) return &*it;
  const nlohmann::json* node = &grid;
  std::size_t begin = 0;
  while (begin <= name.size()) {
    const std::size_t dot = name.find('.', begin);
    const std::string part = name.substr(begin, dot == std::string::npos ? std::string::npos : dot - begin);
    if (!node->is_object()) return nullptr;
    auto it = node->find(part);
    if (it == node->end()) return nullptr;
    node = &*it;
    if (dot == std::string::npos) return node;
    begin = dot + 1;
  }
  return nullptr;
}

}  // namespace biaslab::report::detail
