// Grid expansion: cartesian product of axes and zipped groups, minus exclusions.
#include <xxhash.h>

#include "biaslab/pipeline.hpp"

namespace biaslab {

std::string Cell::label() const {
  if (values.empty()) return "(single cell)";
  std::string out;
  for (const auto& k : names) {
    const auto& v = values.at(k);
    if (!out.empty()) out += " ";
    out += k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
  }
  return out;
}

namespace {

// A "dimension" is one cartesian axis or one zipped group; each has `size` positions.
struct Dimension {
  std::vector<const GridAxis*> axes;
  std::size_t size() const { return axes.front()->values.size(); }
};

bool matches(const nlohmann::json& cell_value, const nlohmann::json& rule) {
  if (cell_value == rule) return true;
  if (rule.is_array() && !cell_value.is_array())
    for (const auto& r : rule)
      if (r == cell_value) return true;
  return false;
}

}  // namespace

std::vector<Cell> expand_grid(const Pipeline& p, DiagnosticSink& sink) {
  std::vector<Dimension> dims;
  std::vector<std::string> names;
  for (const auto& a : p.grid.product) dims.push_back({{&a}}), names.push_back(a.name);
  for (const auto& g : p.grid.zipped) {
    Dimension d;
    for (const auto& a : g) d.axes.push_back(&a), names.push_back(a.name);
    if (!d.axes.empty()) dims.push_back(d);
  }
  for (const auto& [rule, where] : p.grid.exclude)
    for (auto& [k, v] : rule.items())
      if (std::find(names.begin(), names.end(), k) == names.end())
        sink.error(where, "grid.exclude names '" + k + "', which is not a grid variable");

  std::vector<Cell> cells;
  std::vector<std::size_t> pos(dims.size(), 0);
  while (true) {
    Cell c;
    for (std::size_t d = 0; d < dims.size(); ++d)
      for (const auto* a : dims[d].axes) c.values[a->name] = a->values[pos[d]], c.names.push_back(a->name);
    bool excluded = false;
    for (const auto& [rule, where] : p.grid.exclude) {
      bool all = !rule.empty();
      for (auto& [k, v] : rule.items())
        if (!c.values.contains(k) || !matches(c.values[k], v)) all = false;
      if (all) excluded = true;
    }
    if (!excluded) {
      c.index = cells.size();
      cells.push_back(std::move(c));
    }
    // Odometer: the last dimension varies fastest, like nested loops in file order.
    std::ptrdiff_t d = static_cast<std::ptrdiff_t>(dims.size()) - 1;
    for (; d >= 0; --d) {
      if (++pos[d] < dims[d].size()) break;
      pos[d] = 0;
    }
    if (d < 0) break;
  }
  if (cells.empty()) sink.error(p.where, "grid.exclude removes every cell of the grid");
  return cells;
}

std::string pipeline_hash(const Pipeline& p) {
  std::string material = p.text;
  for (const auto& o : p.overrides) material += "\n--set " + o;
  XXH128_hash_t h = XXH3_128bits(material.data(), material.size());
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(h.high64),
                static_cast<unsigned long long>(h.low64));
  return buf;
}

}  // namespace biaslab
