// Which grid variables are the pretraining axis and the model-size axis, and where a grid value
// sits on them.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>
#include <stdexcept>

#include "biaslab/report.hpp"
#include "report/grid_access.hpp"

namespace biaslab::report {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// A whole string that is a finite decimal number.
std::optional<double> parse_number(std::string_view s) {
  if (s.empty()) return std::nullopt;
  const std::string text(s);
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || !std::isfinite(v)) return std::nullopt;
  if (std::isspace(static_cast<unsigned char>(text.front()))) return std::nullopt;
  return v;
}

bool has_prefix(std::string_view s, std::string_view prefix) {
  return s.size() > prefix.size() && lower(s.substr(0, prefix.size())) == prefix;
}

// Values of `var` in every cell that has it.
std::vector<nlohmann::json> values_of(const std::vector<nlohmann::json>& cells, const std::string& var) {
  std::vector<nlohmann::json> out;
  for (const auto& g : cells)
    if (const nlohmann::json* v = detail::grid_value(g, var)) out.push_back(*v);
  return out;
}

bool all_values(const std::vector<nlohmann::json>& values, auto&& predicate) {
  return !values.empty() && std::all_of(values.begin(), values.end(), predicate);
}

std::size_t distinct(const std::vector<nlohmann::json>& values) {
  std::set<std::string> seen;
  for (const auto& v : values) seen.insert(v.dump());
  return seen.size();
}

// Checks an override: "none" disables the axis; anything else must name a grid variable.
std::string checked_override(const std::vector<nlohmann::json>& cells, const std::string& name,
                             const char* flag) {
  if (name == "none") return {};
  if (values_of(cells, name).empty())
    throw std::invalid_argument(std::string(flag) + " '" + name +
                                "': no grid variable of that name in this run");
  return name;
}

}  // namespace

std::optional<double> parse_step_value(const nlohmann::json& value) {
  if (value.is_number()) {
    const double v = value.get<double>();
    return std::isfinite(v) ? std::optional<double>(v) : std::nullopt;
  }
  if (!value.is_string()) return std::nullopt;
  const std::string s = value.get<std::string>();
  if (has_prefix(s, "step")) return parse_number(std::string_view(s).substr(4));
  if (has_prefix(s, "frac")) return parse_number(std::string_view(s).substr(4));
  return parse_number(s);
}

std::optional<double> parse_parameter_count(std::string_view text) {
  if (auto whole = parse_number(text)) return whole;
  std::optional<double> found;
  // Tokens are runs of letters, digits and dots; "70m", "1.4b", "125M" qualify.
  std::size_t i = 0;
  while (i < text.size()) {
    auto token_char = [&](std::size_t k) {
      return std::isalnum(static_cast<unsigned char>(text[k])) || text[k] == '.';
    };
    if (!token_char(i)) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < text.size() && token_char(j)) ++j;
    const std::string_view token = text.substr(i, j - i);
    i = j;
    if (token.size() < 2) continue;
    const char suffix = static_cast<char>(std::tolower(static_cast<unsigned char>(token.back())));
    double scale = 0;
    switch (suffix) {
      case 'k': scale = 1e3; break;
      case 'm': scale = 1e6; break;
      case 'b': scale = 1e9; break;
      case 't': scale = 1e12; break;
      default: continue;
    }
    if (!std::isdigit(static_cast<unsigned char>(token.front()))) continue;
    if (auto v = parse_number(token.substr(0, token.size() - 1)); v && *v > 0) found = *v * scale;
  }
  return found;
}

Axes detect_axes(const std::vector<nlohmann::json>& cells, const std::vector<std::string>& declared,
                 const std::string& step_override, const std::string& size_override) {
  // Top-level variables: declared order first, then any others found in the cells, sorted.
  std::vector<std::string> vars = declared;
  std::set<std::string> others;
  for (const auto& g : cells)
    if (g.is_object())
      for (const auto& [k, v] : g.items())
        if (std::find(vars.begin(), vars.end(), k) == vars.end()) others.insert(k);
  vars.insert(vars.end(), others.begin(), others.end());
  std::erase_if(vars, [&](const std::string& v) { return values_of(cells, v).empty(); });

  Axes axes;
  if (!size_override.empty()) {
    axes.size_var = checked_override(cells, size_override, "--size-var");
  } else {
    for (const auto& v : vars) {
      const std::string l = lower(v);
      if (l == "size" || l == "model" || l == "model_size") {
        axes.size_var = v;
        break;
      }
    }
  }

  if (!step_override.empty()) {
    axes.step_var = checked_override(cells, step_override, "--step-var");
    return axes;
  }
  auto scalar = [](const nlohmann::json& v) { return !v.is_object() && !v.is_array(); };
  // 1. by name; 2. values "step<N>" / "frac<x>"; 3. plain numbers taking several values.
  for (const auto& v : vars) {
    const std::string l = lower(v);
    if (v != axes.size_var && (l == "step" || l == "steps" || l == "checkpoint" || l == "revision") &&
        all_values(values_of(cells, v), scalar)) {
      axes.step_var = v;
      return axes;
    }
  }
  for (const auto& v : vars) {
    if (v == axes.size_var) continue;
    if (all_values(values_of(cells, v), [](const nlohmann::json& x) {
          return x.is_string() && (has_prefix(x.get<std::string>(), "step") ||
                                   has_prefix(x.get<std::string>(), "frac")) &&
                 parse_step_value(x).has_value();
        })) {
      axes.step_var = v;
      return axes;
    }
  }
  for (const auto& v : vars) {
    if (v == axes.size_var) continue;
    const auto values = values_of(cells, v);
    if (distinct(values) > 1 &&
        all_values(values, [&](const nlohmann::json& x) { return scalar(x) && parse_step_value(x); })) {
      axes.step_var = v;
      return axes;
    }
  }
  return axes;
}

}  // namespace biaslab::report
