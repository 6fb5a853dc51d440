// ${var} interpolation of pipeline values.
#include "biaslab/pipeline.hpp"

namespace biaslab {

namespace {

std::string render(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

// Looks up "a.b.c" in scope; nullptr when missing.
const nlohmann::json* lookup(const nlohmann::json& scope, const std::string& name) {
  const nlohmann::json* cur = &scope;
  std::size_t start = 0;
  // Whole dotted name first ("pipeline.seed" is stored flat), then segment by segment.
  if (auto it = scope.find(name); it != scope.end()) return &*it;
  while (start <= name.size()) {
    auto dot = name.find('.', start);
    std::string part = name.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(part);
    if (it == cur->end()) return nullptr;
    cur = &*it;
    if (dot == std::string::npos) return cur;
    start = dot + 1;
  }
  return nullptr;
}

std::vector<std::string> scope_names(const nlohmann::json& scope) {
  std::vector<std::string> names;
  for (auto& [k, v] : scope.items()) names.push_back(k);
  return names;
}

nlohmann::json interpolate_value(const nlohmann::json& v, const std::string& pointer,
                                 const LocatedValue& lv, const nlohmann::json& scope, DiagnosticSink& sink) {
  if (v.is_object()) {
    nlohmann::json out = nlohmann::json::object();
    for (auto& [k, child] : v.items()) out[k] = interpolate_value(child, pointer + "/" + k, lv, scope, sink);
    return out;
  }
  if (v.is_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (std::size_t i = 0; i < v.size(); ++i)
      out.push_back(interpolate_value(v[i], pointer + "/" + std::to_string(i), lv, scope, sink));
    return out;
  }
  if (!v.is_string()) return v;
  const std::string& s = v.get_ref<const std::string&>();
  if (s.find('$') == std::string::npos) return v;
  auto where = [&] {
    auto it = lv.locations.find(pointer);
    return it == lv.locations.end() ? lv.where() : it->second;
  };
  auto resolve = [&](const std::string& name) -> const nlohmann::json* {
    const nlohmann::json* r = lookup(scope, name);
    if (!r) {
      std::string hint = closest_match(name, scope_names(scope));
      sink.error(where(), "unknown variable '${" + name + "}'" + (hint.empty() ? "" : " (did you mean '" + hint + "'?)") +
                              "; defined: grid variables, [vars], pipeline.name, pipeline.seed");
    }
    return r;
  };
  // Exactly "${x}": keep x's type.
  if (s.size() > 3 && s.rfind("${", 0) == 0 && s.back() == '}' && s.find("${", 2) == std::string::npos &&
      s.find('}') == s.size() - 1) {
    const nlohmann::json* r = resolve(s.substr(2, s.size() - 3));
    return r ? *r : nlohmann::json(s);
  }
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    if (s.compare(i, 3, "$${") == 0) {
      out += "${";
      i += 3;
    } else if (s.compare(i, 2, "${") == 0) {
      auto close = s.find('}', i + 2);
      if (close == std::string::npos) {
        sink.error(where(), "unterminated '${' in \"" + s + "\"");
        return v;
      }
      if (const nlohmann::json* r = resolve(s.substr(i + 2, close - i - 2))) out += render(*r);
      i = close + 1;
    } else {
      out += s[i++];
    }
  }
  return out;
}

}  // namespace

nlohmann::json interpolate(const LocatedValue& v, const nlohmann::json& scope, DiagnosticSink& sink) {
  return interpolate_value(v.value, "", v, scope, sink);
}

}  // namespace biaslab
