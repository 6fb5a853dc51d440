#include "param_validation.hpp"

#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

namespace biaslab::engine {

struct SchemaValidator::Impl {
  valijson::Schema schema;
};

SchemaValidator::SchemaValidator(const nlohmann::json& schema) : impl_(std::make_unique<Impl>()), schema_(schema) {
  valijson::SchemaParser parser;
  valijson::adapters::NlohmannJsonAdapter adapter(schema_);
  parser.populateSchema(adapter, impl_->schema);
}
SchemaValidator::~SchemaValidator() = default;

namespace {

bool type_matches(const nlohmann::json& v, const std::string& type) {
  if (type == "integer") return v.is_number_integer();
  if (type == "number") return v.is_number();
  if (type == "string") return v.is_string();
  if (type == "boolean") return v.is_boolean();
  if (type == "array") return v.is_array();
  if (type == "object") return v.is_object();
  if (type == "null") return v.is_null();
  return true;
}

std::string json_type_name(const nlohmann::json& v) {
  if (v.is_number_integer()) return "integer";
  if (v.is_number_float()) return "float";
  if (v.is_string()) return "string";
  if (v.is_boolean()) return "boolean";
  if (v.is_array()) return "array";
  if (v.is_object()) return "table";
  return "null";
}

std::string short_value(const nlohmann::json& v) {
  std::string s = v.dump();
  return s.size() > 40 ? s.substr(0, 37) + "..." : s;
}

// valijson context ["<root>", "[bits]", "[0]"] -> "/bits/0"
std::string pointer_of(const std::vector<std::string>& context) {
  std::string out;
  for (std::size_t i = 1; i < context.size(); ++i) {
    std::string c = context[i];
    if (c.size() >= 2 && c.front() == '[' && c.back() == ']') c = c.substr(1, c.size() - 2);
    if (c.size() >= 2 && c.front() == '"' && c.back() == '"') c = c.substr(1, c.size() - 2);
    out += "/" + c;
  }
  return out;
}

}  // namespace

void SchemaValidator::validate(const std::string& node, const std::string& plugin, const nlohmann::json& params,
                               const std::function<SourceLocation(const std::string&, bool)>& where,
                               DiagnosticSink& sink) const {
  std::size_t before = sink.diagnostics().size();
  const auto props = schema_.value("properties", nlohmann::json::object());
  const bool closed = !(schema_.contains("additionalProperties") && schema_["additionalProperties"] != false);
  std::vector<std::string> known;
  for (auto& [k, _] : props.items()) known.push_back(k);
  // Friendlier messages than the generic validator's for the common mistakes.
  for (auto& [k, v] : params.items()) {
    auto p = props.find(k);
    if (p == props.end()) {
      if (closed) {
        std::string hint = closest_match(k, known);
        sink.error(where("/" + k, true), "node '" + node + "': unknown parameter '" + k + "' for plugin " + plugin +
                                             (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
      }
      continue;
    }
    if (auto t = p->find("type"); t != p->end()) {
      std::vector<std::string> types;
      if (t->is_string()) types.push_back(*t);
      else if (t->is_array())
        for (auto& x : *t) types.push_back(x);
      bool ok = types.empty();
      for (auto& ty : types) ok = ok || type_matches(v, ty);
      if (!ok) {
        std::string expected;
        for (auto& ty : types) expected += (expected.empty() ? "" : " or ") + ty;
        sink.error(where("/" + k, false), "node '" + node + "': parameter '" + k + "' expects " + expected + ", got " +
                                              json_type_name(v) + " " + short_value(v));
        continue;
      }
    }
    if (auto e = p->find("enum"); e != p->end() && e->is_array()) {
      bool found = false;
      for (auto& x : *e) found = found || x == v;
      if (!found) {
        std::string allowed;
        for (auto& x : *e) allowed += (allowed.empty() ? "" : ", ") + x.dump();
        sink.error(where("/" + k, false), "node '" + node + "': parameter '" + k + "' must be one of " + allowed +
                                              ", got " + short_value(v));
      }
    }
  }
  if (auto req = schema_.find("required"); req != schema_.end() && req->is_array())
    for (auto& r : *req)
      if (!params.contains(r.get<std::string>()))
        sink.error(where("", false), "node '" + node + "': missing required parameter '" + r.get<std::string>() +
                                         "' for plugin " + plugin);
  if (sink.diagnostics().size() != before) return;

  valijson::Validator validator;
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter target(params);
  if (validator.validate(impl_->schema, target, &results)) return;
  // valijson reports each failure once per enclosing level ("failed to validate against the
  // schema of property X"); only the innermost message says what is wrong.
  std::vector<std::pair<std::string, std::string>> errors;
  valijson::ValidationResults::Error error;
  while (results.popError(error)) errors.emplace_back(pointer_of(error.context), error.description);
  std::set<std::string> reported;
  for (const auto& [ptr, description] : errors) {
    bool has_deeper = std::any_of(errors.begin(), errors.end(), [&](const auto& o) {
      return o.first.size() > ptr.size() && o.first.compare(0, ptr.size(), ptr) == 0 && o.first[ptr.size()] == '/';
    });
    if (has_deeper || !reported.insert(ptr).second) continue;
    std::string path = ptr.empty() ? "parameters" : "parameter '" + ptr.substr(1) + "'";
    for (auto& c : path)
      if (c == '/') c = '.';
    sink.error(where(ptr, false), "node '" + node + "': " + path + ": " + description);
  }
}

}  // namespace biaslab::engine
