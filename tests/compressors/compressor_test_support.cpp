#include "compressor_test_support.hpp"

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <tuple>

#include <spdlog/spdlog.h>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include "biaslab/node_context.hpp"
#include "support/node_context_stub.hpp"
#include "biaslab/plugin_registry.hpp"
#include "biaslab/runtime/tokenizers/tokenizer.hpp"

namespace compressor_test {

namespace fs = std::filesystem;
using nlohmann::json;

std::string env(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) throw std::runtime_error(std::string("environment variable ") + name + " is not set (run through ctest)");
  return v;
}

fs::path fixture(const std::string& name) { return fs::path(env("BIASLAB_FIXTURES")) / name; }

fs::path temp_dir(const std::string& name) {
  static const fs::path root = [] {
    auto p = fs::temp_directory_path() / ("biaslab-compressors-test-" + std::to_string(::getpid()));
    fs::remove_all(p);
    fs::create_directories(p);
    return p;
  }();
  auto dir = root / name;
  fs::create_directories(dir);
  return dir;
}

json read_json(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  return json::parse(in);
}

void isolate_data_cache() { ::setenv("BIASLAB_DATA_DIR", temp_dir("data-cache").c_str(), 1); }

biaslab::Artifact model_artifact(const fs::path& dir, const std::string& producer) {
  biaslab::Artifact a;
  a.type = "model";
  a.path = dir;
  a.key = "test-" + dir.filename().string();
  a.producer = producer;
  if (fs::exists(dir / "artifact.json")) a.meta = read_json(dir / "artifact.json");
  return a;
}

biaslab::Artifact fixture_artifact(const std::string& name) { return model_artifact(fixture(name), "base"); }

const biaslab::ResultRow& RunOutput::row(const std::string& metric, const std::string& category) const {
  for (const auto& r : rows)
    if (r.model == kNode && r.metric == metric && r.category == category) return r;
  throw std::runtime_error("no result row (" + metric + ", " + category + ")");
}

bool RunOutput::has_row(const std::string& metric, const std::string& category) const {
  for (const auto& r : rows)
    if (r.model == kNode && r.metric == metric && r.category == category) return true;
  return false;
}

namespace {

biaslab::PluginRegistry& registry() {
  static biaslab::PluginRegistry r;
  return r;
}

const biaslab::LoadedPlugin& plugin(const std::string& name) {
  if (const auto* p = registry().find(name)) return *p;
  std::string stem = name;  // compress.rtn -> compress_rtn.so
  for (auto& c : stem)
    if (c == '.') c = '_';
  return registry().load(fs::path(env("BIASLAB_PLUGIN_DIR")) / (stem + ".so"));
}

}  // namespace

std::string schema_errors(const std::string& name, const json& params) {
  const auto& schema_json = plugin(name).params_schema;
  valijson::Schema schema;
  valijson::SchemaParser parser;
  valijson::adapters::NlohmannJsonAdapter schema_adapter(schema_json);
  parser.populateSchema(schema_adapter, schema);
  valijson::Validator validator;
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter target(params);
  if (validator.validate(schema, target, &results)) return {};
  std::string out;
  valijson::ValidationResults::Error error;
  while (results.popError(error)) {
    std::string where;
    for (const auto& c : error.context) where += c;
    out += where + ": " + error.description + "\n";
  }
  return out;
}

RunOutput run_plugin(const std::string& name, json params, const std::map<std::string, std::vector<biaslab::Artifact>>& inputs,
                     std::uint64_t seed) {
  const auto& p = plugin(name);
  if (auto errors = schema_errors(name, params); !errors.empty())
    throw std::invalid_argument(name + ": parameters do not match the schema:\n" + errors);
  biaslab::apply_schema_defaults(p.params_schema, params);
  static int counter = 0;
  const std::string node_dir = "node-" + std::to_string(++counter);
  biaslab::testing::NodeContextStub ctx({.node = RunOutput::kNode,
                                         .params = params,
                                         .inputs = inputs,
                                         .output_dir = temp_dir(node_dir + "/out"),
                                         .scratch_dir = temp_dir(node_dir + "/scratch"),
                                         .seed = seed});
  p.create()->run(ctx);
  RunOutput out;
  out.dir = ctx.output_dir();
  out.rows = std::move(ctx.rows);
  std::set<std::tuple<std::string, std::string, std::string>> keys;
  for (const auto& r : out.rows)
    if (!keys.emplace(r.model, r.metric, r.category).second)
      throw std::runtime_error(name + " emitted (" + r.model + ", " + r.metric + ", " + r.category + ") twice");
  return out;
}

std::map<std::string, StoredTensor> safetensors_header(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + file.string());
  unsigned char len_bytes[8];
  in.read(reinterpret_cast<char*>(len_bytes), 8);
  std::uint64_t len = 0;
  for (int i = 7; i >= 0; --i) len = (len << 8) | len_bytes[i];
  std::string header(len, '\0');
  in.read(header.data(), static_cast<std::streamsize>(len));
  const auto j = json::parse(header);
  std::map<std::string, StoredTensor> out;
  for (const auto& [name, v] : j.items()) {
    if (name == "__metadata__") continue;
    StoredTensor t;
    t.dtype = v.at("dtype").get<std::string>();
    t.shape = v.at("shape").get<std::vector<std::int64_t>>();
    t.bytes = v.at("data_offsets")[1].get<std::int64_t>() - v.at("data_offsets")[0].get<std::int64_t>();
    out[name] = t;
  }
  return out;
}

std::int64_t stored_bytes(const std::map<std::string, StoredTensor>& header) {
  std::int64_t bytes = 0;
  for (const auto& [_, t] : header) bytes += t.bytes;
  return bytes;
}

double causal_loss(const biaslab::runtime::LanguageModel& model, const std::vector<std::vector<std::int64_t>>& windows) {
  double total = 0;
  std::int64_t count = 0;
  for (const auto& w : windows) {
    auto ids = torch::tensor(w, torch::kInt64).unsqueeze(0);
    auto logits = model.forward(ids);
    auto logp = torch::log_softmax(logits.index({0, torch::indexing::Slice(0, -1)}).to(torch::kFloat64), -1);
    auto target = ids.index({0, torch::indexing::Slice(1, torch::indexing::None)});
    total -= logp.gather(1, target.unsqueeze(1)).sum().item<double>();
    count += target.numel();
  }
  return total / static_cast<double>(count);
}

std::vector<std::vector<std::int64_t>> contiguous_windows(const fs::path& model_dir, const fs::path& text_file, std::int64_t n,
                                                          std::int64_t seqlen) {
  std::ifstream in(text_file, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  const auto ids = biaslab::runtime::load_tokenizer(model_dir)->encode(s.str(), true).ids;
  if (static_cast<std::int64_t>(ids.size()) < n * seqlen) throw std::runtime_error("text too short");
  std::vector<std::vector<std::int64_t>> out;
  for (std::int64_t i = 0; i < n; ++i) out.emplace_back(ids.begin() + i * seqlen, ids.begin() + (i + 1) * seqlen);
  return out;
}

fs::path wikitext_test_file() { return fs::path(env("BIASLAB_DATA_MIRROR")) / "corpora/wikitext-2-raw-v1/wiki.test.raw"; }

fs::path calibration_text() {
  static const fs::path file = [] {
    std::ifstream in(wikitext_test_file(), std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + wikitext_test_file().string());
    std::string text(40000, '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(in.gcount()));
    text.resize(text.rfind('\n') + 1);  // whole lines only (valid UTF-8)
    auto path = temp_dir("data") / "calibration.txt";
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }();
  return file;
}

}  // namespace compressor_test
