// corpus.mix: one corpus from several (e.g. a planted-bias synthetic corpus plus natural text), in
// chosen proportions of text, shuffled together deterministically. Every split (train,
// validation) is mixed the same way. Inputs without documents (a corpus.text that skipped its
// missing data set) are left out with a warning, so a pipeline can mix in text "when present".
//
// With `weights` w_i (normalised to sum 1) and B_i bytes available from input i, the mix takes
// the largest total T with w_i * T <= B_i for every input: the scarcest input (relative to its
// weight) is used whole, the others contribute documents, in their own (already shuffled) order,
// until they reach w_i * T bytes. Nothing is repeated. Without weights every document is used.
// Holds one split of every input in memory at a time.
#include <algorithm>
#include <fstream>
#include <limits>
#include <numeric>
#include <stdexcept>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "biaslab/plugin.hpp"
#include "biaslab/runtime/train/corpus.hpp"
#include "biaslab/runtime/train/deterministic_random.hpp"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
namespace train = biaslab::runtime::train;

constexpr std::uint64_t kMixStream = 0x6d6978ULL;  // "mix"

struct Source {
  std::string producer;
  double weight = 0;
  std::vector<std::string> documents;
  std::uint64_t bytes = 0;
};

std::uint64_t total_bytes(const std::vector<std::string>& documents) {
  return std::accumulate(documents.begin(), documents.end(), std::uint64_t{0},
                         [](std::uint64_t sum, const std::string& d) { return sum + d.size(); });
}

class CorpusMix final : public biaslab::Operator {
 public:
  void run(biaslab::NodeContext& ctx) override {
    const auto& p = ctx.params();
    const auto inputs = ctx.inputs("corpora");
    auto weights = p["weights"].get<std::vector<double>>();
    if (!weights.empty() && weights.size() != inputs.size()) {
      throw std::invalid_argument("corpus.mix: 'weights' has " + std::to_string(weights.size()) + " entries for " +
                                  std::to_string(inputs.size()) + " input corpora (one per input, in order)");
    }
    if (weights.empty()) weights.assign(inputs.size(), 0.0);  // 0 here means "every document"
    const bool weighted = !p["weights"].empty();
    const bool shuffle = p["shuffle"].get<bool>();

    std::vector<train::CorpusReader> readers;
    std::vector<std::size_t> used;  // inputs that contribute
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      readers.emplace_back(inputs[i].path);
      const auto train_docs = readers.back().documents("train");
      if (train_docs.empty()) {
        ctx.log().warn("corpus.mix: input '{}' has no training documents; left out of the mix", inputs[i].producer);
        continue;
      }
      if (weighted && weights[i] == 0) continue;
      used.push_back(i);
    }
    if (used.empty()) throw std::runtime_error("corpus.mix: no input corpus has training documents");

    json splits = json::object();
    json sources = json::array();
    for (const auto i : used) sources.push_back({{"producer", inputs[i].producer}, {"key", inputs[i].key}});
    for (const std::string split : {"train", "validation"}) {
      std::vector<Source> parts;
      for (const auto i : used) {
        Source s{.producer = inputs[i].producer, .weight = weights[i], .documents = readers[i].documents(split)};
        s.bytes = total_bytes(s.documents);
        parts.push_back(std::move(s));
      }
      if (weighted) take_proportions(parts);

      std::vector<std::string> mixed;
      for (std::size_t k = 0; k < parts.size(); ++k) {
        const auto n = parts[k].documents.size();
        sources[k][split] = {{"documents", n}, {"bytes", total_bytes(parts[k].documents)}};
        std::move(parts[k].documents.begin(), parts[k].documents.end(), std::back_inserter(mixed));
      }
      if (shuffle) {
        auto rng = train::make_generator(ctx.seed(), kMixStream, split == "train" ? 0 : 1);
        train::shuffle_in_place(mixed, rng);
      }
      const std::string name = split + ".jsonl";
      {
        std::ofstream out(ctx.output_dir() / name, std::ios::binary | std::ios::trunc);
        for (const auto& d : mixed) out << json{{"text", d}}.dump() << '\n';
        if (!out) throw std::runtime_error("cannot write " + (ctx.output_dir() / name).string());
      }
      const auto bytes = total_bytes(mixed);
      splits[split] = {{"files", mixed.empty() ? json::array() : json::array({name})},
                       {"documents", mixed.size()},
                       {"bytes", bytes}};
      ctx.emit({.model = ctx.node_name(), .metric = "corpus.documents", .category = split,
                .value = static_cast<double>(mixed.size())});
      ctx.emit({.model = ctx.node_name(), .metric = "corpus.bytes", .category = split, .value = static_cast<double>(bytes)});
      for (std::size_t k = 0; k < parts.size(); ++k) {
        const double share = bytes > 0 ? sources[k][split]["bytes"].get<double>() / static_cast<double>(bytes) : 0.0;
        ctx.emit({.model = ctx.node_name(), .metric = "corpus.share", .category = split + ":" + parts[k].producer,
                  .value = share});
      }
      ctx.log().info("corpus.mix: {} {} documents ({} bytes) from {} corpora", mixed.size(), split, bytes, parts.size());
    }

    const json meta = {{"type", "corpus"},
                       {"format", "biaslab-corpus/1"},
                       {"text_field", "text"},
                       {"splits", splits},
                       {"source", {{"mix", sources}, {"weights", p["weights"]}}},
                       {"seed", ctx.seed()},
                       {"shuffled", shuffle}};
    std::ofstream(ctx.output_dir() / "artifact.json") << meta.dump(2) << '\n';
  }

 private:
  // Trims each part to weight * T bytes (whole documents, in order), T as large as the inputs allow.
  static void take_proportions(std::vector<Source>& parts) {
    const double sum = std::accumulate(parts.begin(), parts.end(), 0.0, [](double a, const Source& s) { return a + s.weight; });
    double total = std::numeric_limits<double>::infinity();
    for (const auto& s : parts) total = std::min(total, static_cast<double>(s.bytes) / (s.weight / sum));
    for (auto& s : parts) {
      const double target = s.weight / sum * total;
      std::uint64_t taken = 0;
      std::size_t n = 0;
      // Stop at the first document that reaches the target (rounding to whole documents).
      while (n < s.documents.size() && static_cast<double>(taken) < target) taken += s.documents[n++].size();
      s.documents.resize(n);
    }
  }
};

const biaslab::InputPort kInputs[] = {
    {"corpora", "corpus", 1, -1, "corpora to mix (corpus.text, corpus.synthetic, corpus.mix), in the order of 'weights'"}};

const biaslab::PluginDescriptor kPlugin = {
    .abi_version = biaslab::kPluginAbiVersion,
    .name = "corpus.mix",
    .version = "1.0.0",
    .kind = biaslab::PluginKind::transform,
    .summary = "mix several corpora in chosen proportions of text, shuffled together deterministically",
    .params_schema = R"schema({
      "$schema": "http://json-schema.org/draft-07/schema#",
      "type": "object", "additionalProperties": false,
      "properties": {
        "weights": {"type": "array", "items": {"type": "number", "minimum": 0}, "default": [],
          "description": "share of the mix's text (bytes) per input, in input order (normalised; 0 leaves an input out). The input that is scarcest for its weight is used whole and the others are cut to match; nothing is repeated. Empty: every document of every input"},
        "shuffle": {"type": "boolean", "default": true, "description": "shuffle the mixed documents (seeded by the node's seed)"}
      }
    })schema",
    .inputs = kInputs,
    .num_inputs = 1,
    .output_type = "corpus",
    .create = [] { return std::unique_ptr<biaslab::Operator>(new CorpusMix); }};

}  // namespace

BIASLAB_PLUGIN(kPlugin)
