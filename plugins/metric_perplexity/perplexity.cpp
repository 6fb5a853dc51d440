// metric.perplexity: token-level perplexity with a strided sliding window, as in Hugging Face's "Perplexity
// of fixed-length models" guide: the text is tokenized as a whole (with the tokenizer's special tokens),
// windows of max_length tokens start every `stride` tokens, and each window scores only the tokens the
// previous window did not reach (so every token is scored once, with at least max_length - stride tokens of
// context where available). Masked LMs get the pseudo-perplexity instead (Salazar et al. 2020): every token
// masked alone inside its window, exp of the mean negative log-probability.
//
// The text is a corpus artifact's split (JSON lines with a text field; input port "corpus") or, without one,
// a file of the data mirror/cache (`data`), read as Hugging Face `datasets` reads wikitext (one row per
// line, blank lines empty) and joined with "\n\n" as the guide does.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "biaslab/plugin.hpp"
#include "metric_support.hpp"

namespace {

using biaslab::NodeContext;
using biaslab::ResultRow;
using nlohmann::json;
namespace fs = std::filesystem;
namespace metrics = biaslab::metrics;
namespace runtime = biaslab::runtime;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("metric.perplexity: cannot read " + path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Rows as `datasets` yields them for a text file (wikitext builder): each line with its '\n', lines that
// are only whitespace become "". Python's text mode turns "\r\n" and "\r" into "\n" first.
std::vector<std::string> text_rows(std::string text) {
  std::string normalized;
  normalized.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r') {
      normalized.push_back('\n');
      if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
    } else {
      normalized.push_back(text[i]);
    }
  }
  std::vector<std::string> rows;
  std::size_t start = 0;
  while (start < normalized.size()) {
    std::size_t end = normalized.find('\n', start);
    end = end == std::string::npos ? normalized.size() : end + 1;
    std::string row = normalized.substr(start, end - start);
    // Python str.strip() whitespace (ASCII subset; the benchmark corpora are ASCII-whitespace separated).
    const bool blank = row.find_first_not_of(" \t\n\r\v\f\x1c\x1d\x1e\x1f") == std::string::npos;
    rows.push_back(blank ? std::string() : std::move(row));
    start = end;
  }
  return rows;
}

std::string join(const std::vector<std::string>& parts, const std::string& separator) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i) out += separator;
    out += parts[i];
  }
  return out;
}

// One window of the sliding-window evaluation.
struct Window {
  std::size_t begin = 0, end = 0;     // token range [begin, end) fed to the model
  std::size_t score_from = 0;         // first scored token (global index)
  double nll = 0.0;                   // sum of -log p over the scored tokens
  std::size_t scored = 0;
  double weight = 0.0;                // weight of this window's mean NLL in the average
};

// HF guide's loop: begin = 0, stride, ...; end = min(begin + max_length, n); tokens from max(prev_end, ...)
// up to end are scored; stops once a window reaches the end. `first_scoreable` = 1 for causal LMs (the
// first token of a window has no context), 0 for masked LMs.
std::vector<Window> make_windows(std::size_t n, std::size_t max_length, std::size_t stride, std::size_t first_scoreable) {
  std::vector<Window> windows;
  std::size_t prev_end = 0;
  for (std::size_t begin = 0; begin < n; begin += stride) {
    Window w;
    w.begin = begin;
    w.end = std::min(begin + max_length, n);
    w.score_from = std::max(begin + first_scoreable, prev_end);
    if (w.end > w.score_from) windows.push_back(w);
    prev_end = w.end;
    if (w.end == n) break;
  }
  return windows;
}

struct ModelResult {
  std::string label;
  std::vector<std::int64_t> tokens;
  std::vector<Window> windows;
  bool pseudo = false;
  json info = json::object();
};

double perplexity_of(const std::vector<Window>& windows, std::span<const std::size_t> items,
                     const std::vector<const Window*>* swapped_source = nullptr) {
  double nll = 0, weight = 0;
  for (auto i : items) {
    const Window& w = swapped_source ? *(*swapped_source)[i] : windows[i];
    nll += w.nll / static_cast<double>(w.scored) * w.weight;
    weight += w.weight;
  }
  return weight > 0 ? std::exp(nll / weight) : std::numeric_limits<double>::quiet_NaN();
}

class Perplexity final : public biaslab::Operator {
 public:
  void run(NodeContext& ctx) override {
    stats_ = metrics::stats_options(ctx);
    const auto models = ctx.inputs("models");
    metrics::require_distinct_labels(models, "metric.perplexity");
    load_text(ctx);
    metrics::score_models(
        ctx, models, [&](const metrics::ScoredModel& m) { return score_model(ctx, m); },
        [&](NodeContext& out, const ModelResult& r) { emit_model(out, r); },
        [&](NodeContext& out, const ModelResult& base, const ModelResult& other) { emit_comparison(out, base, other); },
        [&](const ModelResult& r) { return item_scores(r); });
  }

 private:
  void load_text(NodeContext& ctx) {
    const auto& params = ctx.params();
    const auto separator = params.at("separator").get<std::string>();
    const auto corpus = ctx.inputs("corpus");
    if (!corpus.empty()) {
      const auto& artifact = corpus.front();
      const auto split = params.at("split").get<std::string>();
      const std::string field = artifact.meta.value("text_field", std::string("text"));
      std::vector<fs::path> files;
      if (artifact.meta.contains("splits") && artifact.meta["splits"].contains(split)) {
        for (const auto& f : artifact.meta["splits"][split].value("files", json::array()))
          files.push_back(artifact.path / f.get<std::string>());
      } else {
        files.push_back(artifact.path / (split + ".jsonl"));
      }
      std::vector<std::string> texts;
      for (const auto& file : files) {
        std::ifstream in(file, std::ios::binary);
        if (!in)
          throw std::runtime_error("metric.perplexity: corpus '" + artifact.producer + "' has no split '" + split +
                                   "' (" + file.string() + ")");
        std::string line;
        std::size_t number = 0;
        while (std::getline(in, line)) {
          ++number;
          if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
          json record;
          try {
            record = json::parse(line);
          } catch (const json::parse_error& e) {
            throw std::runtime_error(file.string() + ":" + std::to_string(number) + ": " + e.what());
          }
          if (!record.contains(field) || !record[field].is_string())
            throw std::runtime_error(file.string() + ":" + std::to_string(number) + ": no string field '" + field + "'");
          texts.push_back(record[field].get<std::string>());
        }
      }
      text_ = join(texts, separator);
      source_ = {{"corpus", artifact.producer}, {"split", split}, {"documents", texts.size()}};
    } else {
      const auto spec = params.at("data").get<std::string>();
      const auto path = metrics::resolve_data_file(spec);
      const auto content = read_file(path);
      text_ = params.at("text_format").get<std::string>() == "raw" ? content : join(text_rows(content), separator);
      source_ = {{"data", spec}, {"file", path.string()}};
    }
    if (text_.empty()) throw std::invalid_argument("metric.perplexity: the text is empty");
    ctx.log().info("metric.perplexity: {} bytes of text from {}", text_.size(), source_.dump());
  }

  std::size_t window_length(const NodeContext& ctx, const metrics::ScoredModel& m) const {
    const auto requested = ctx.params().at("max_length").get<std::size_t>();
    if (requested > 0) return requested;
    auto positions = m.model->config().max_position_embeddings;
    // RoBERTa reserves two position ids (padding_idx + 1 offset): 514 positions, 512 tokens.
    if (m.model->config().architecture == runtime::Architecture::roberta) positions -= 2;
    if (positions <= 1)
      throw std::invalid_argument("metric.perplexity: model '" + m.label + "' has no max_position_embeddings; set max_length");
    return static_cast<std::size_t>(positions);
  }

  runtime::ScoringOptions scoring(const NodeContext& ctx, const metrics::ScoredModel& m) const {
    auto options = m.scoring;
    options.max_batch_tokens = ctx.params().at("max_batch_tokens").get<std::int64_t>();
    return options;
  }

  ModelResult score_model(NodeContext& ctx, const metrics::ScoredModel& m) {
    const auto& params = ctx.params();
    ModelResult r;
    r.label = m.label;
    r.pseudo = !m.causal();
    const auto max_length = window_length(ctx, m);
    const auto stride = params.at("stride").get<std::size_t>();
    const auto max_tokens = params.at("max_tokens").get<std::size_t>();
    const bool hf_guide = params.at("reduction").get<std::string>() == "hf_guide";
    auto encoding = m.tokenizer->encode(text_, true);
    r.info = {{"architecture", m.model->architecture()}, {"max_length", max_length}, {"stride", stride},
              {"reduction", r.pseudo ? "tokens" : params.at("reduction").get<std::string>()}};
    r.info.update(source_);
    if (!r.pseudo) {
      r.tokens = std::move(encoding.ids);
      if (max_tokens > 0 && r.tokens.size() > max_tokens) r.tokens.resize(max_tokens);
      if (max_length < 2) throw std::invalid_argument("metric.perplexity: max_length must be at least 2");
      r.windows = make_windows(r.tokens.size(), max_length, stride, 1);
      std::vector<std::vector<std::int64_t>> sequences;
      for (const auto& w : r.windows)
        sequences.emplace_back(r.tokens.begin() + static_cast<std::ptrdiff_t>(w.begin),
                               r.tokens.begin() + static_cast<std::ptrdiff_t>(w.end));
      metrics::check_cancelled(ctx);
      const auto scored = runtime::score_causal(*m.model, sequences, {}, scoring(ctx, m));
      for (std::size_t k = 0; k < r.windows.size(); ++k) {
        auto& w = r.windows[k];
        // logprobs[j - 1] belongs to window position j (global w.begin + j).
        for (std::size_t g = w.score_from; g < w.end; ++g) w.nll -= scored[k].logprobs.at(g - w.begin - 1);
        w.scored = w.end - w.score_from;
        // HF guide: each window's mean loss weighted by (valid labels - 1); the valid labels are the last
        // trg_len = end - prev_end tokens, or the whole window when that is longer.
        const std::size_t valid = std::min(w.end - w.begin, w.end - (k == 0 ? 0 : r.windows[k - 1].end));
        w.weight = hf_guide ? static_cast<double>(valid) - 1.0 : static_cast<double>(w.scored);
      }
    } else {
      const auto mask_id = metrics::require_mask_id(m);
      // Special tokens the tokenizer adds around a text ([CLS] ... [SEP], <s> ... </s>) wrap every window.
      std::vector<std::int64_t> lead, trail, content;
      std::size_t i = 0;
      for (; i < encoding.size() && encoding.special_tokens_mask[i]; ++i) lead.push_back(encoding.ids[i]);
      std::size_t j = encoding.size();
      while (j > i && encoding.special_tokens_mask[j - 1]) --j;
      content.assign(encoding.ids.begin() + static_cast<std::ptrdiff_t>(i), encoding.ids.begin() + static_cast<std::ptrdiff_t>(j));
      trail.assign(encoding.ids.begin() + static_cast<std::ptrdiff_t>(j), encoding.ids.end());
      if (max_tokens > 0 && content.size() > max_tokens) content.resize(max_tokens);
      if (max_length <= lead.size() + trail.size())
        throw std::invalid_argument("metric.perplexity: max_length leaves no room inside the special tokens");
      const std::size_t inner = max_length - lead.size() - trail.size();
      r.tokens = content;
      r.windows = make_windows(content.size(), inner, std::min(stride, inner), 0);
      std::vector<std::vector<std::int64_t>> sequences, positions;
      for (const auto& w : r.windows) {
        std::vector<std::int64_t> seq = lead;
        seq.insert(seq.end(), content.begin() + static_cast<std::ptrdiff_t>(w.begin),
                   content.begin() + static_cast<std::ptrdiff_t>(w.end));
        seq.insert(seq.end(), trail.begin(), trail.end());
        std::vector<std::int64_t> pos;
        for (std::size_t g = w.score_from; g < w.end; ++g) pos.push_back(static_cast<std::int64_t>(lead.size() + g - w.begin));
        sequences.push_back(std::move(seq));
        positions.push_back(std::move(pos));
      }
      metrics::check_cancelled(ctx);
      const auto lp = runtime::pseudo_log_likelihood(*m.model, sequences, mask_id, positions, scoring(ctx, m));
      for (std::size_t k = 0; k < r.windows.size(); ++k) {
        auto& w = r.windows[k];
        for (float v : lp[k]) w.nll -= v;
        w.scored = w.end - w.score_from;
        w.weight = static_cast<double>(w.scored);
      }
      r.info["pseudo_perplexity"] = true;
    }
    if (r.windows.empty()) throw std::invalid_argument("metric.perplexity: the text has too few tokens to score");
    return r;
  }

  void emit_model(NodeContext& ctx, const ModelResult& r) {
    std::vector<std::size_t> all(r.windows.size());
    for (std::size_t k = 0; k < all.size(); ++k) all[k] = k;
    const double ppl = perplexity_of(r.windows, all);
    std::size_t scored = 0;
    for (const auto& w : r.windows) scored += w.scored;
    // Block bootstrap over windows (neighbouring tokens are not independent).
    const auto ci = metrics::bootstrap(
        r.windows.size(), [&](std::span<const std::size_t> items) { return perplexity_of(r.windows, items); }, stats_);
    json extra = r.info;
    extra["tokens"] = r.tokens.size();
    extra["windows"] = r.windows.size();
    extra["ci"] = "block bootstrap over windows";
    ResultRow row{.model = r.label, .metric = r.pseudo ? "perplexity.pseudo_ppl" : "perplexity.ppl", .value = ppl};
    row.n = static_cast<std::int64_t>(scored);
    metrics::set_ci(row, ci);
    row.extra = extra;
    ctx.emit(row);
    ResultRow nll{.model = r.label, .metric = r.pseudo ? "perplexity.pseudo_nll" : "perplexity.nll", .value = std::log(ppl)};
    nll.n = row.n;
    if (ci) {
      nll.ci_low = std::log(ci->lower);
      nll.ci_high = std::log(ci->upper);
    }
    nll.extra = {{"unit", "nats per token"}};
    ctx.emit(std::move(nll));
    for (std::size_t k = 0; k < r.windows.size(); ++k) {
      const auto& w = r.windows[k];
      ctx.emit_example({.model = r.label,
                        .metric = "perplexity",
                        .example_id = std::to_string(k),
                        .values = {{"begin", w.begin}, {"end", w.end}, {"score_from", w.score_from},
                                   {"scored", w.scored}, {"nll_sum", w.nll}, {"weight", w.weight}}});
    }
  }

  // Per-item scores of the noise floor: each window's summed negative log-likelihood.
  static std::vector<double> item_scores(const ModelResult& r) {
    std::vector<double> out;
    for (const auto& w : r.windows) out.push_back(w.nll);
    return out;
  }

  void emit_comparison(NodeContext& ctx, const ModelResult& base, const ModelResult& other) {
    const bool same = base.pseudo == other.pseudo && base.tokens == other.tokens &&
                      base.windows.size() == other.windows.size() &&
                      std::equal(base.windows.begin(), base.windows.end(), other.windows.begin(),
                                 [](const Window& a, const Window& b) { return a.begin == b.begin && a.end == b.end; });
    if (!same) {
      ctx.log().warn("metric.perplexity: '{}' and '{}' do not see the same tokens/windows (different tokenizer or "
                     "max_length): no paired comparison",
                     base.label, other.label);
      return;
    }
    std::vector<const Window*> mixed(base.windows.size());
    const metrics::PairedStatistic statistic = [&](std::span<const std::size_t> items, std::span<const std::uint8_t> swapped,
                                                   int which) {
      for (auto k : items) mixed[k] = &(((which == 1) != (swapped[k] != 0)) ? other : base).windows[k];
      return perplexity_of(base.windows, items, &mixed);
    };
    const auto cmp = metrics::compare_models(base.windows.size(), statistic, stats_);
    ctx.emit(metrics::comparison_row(other.label, base.label, base.pseudo ? "perplexity.pseudo_ppl.diff" : "perplexity.ppl.diff",
                                     "overall", cmp, {{"permutation_over", "windows"}}));
  }

  metrics::StatsOptions stats_;
  std::string text_;
  json source_;
};

const std::string& schema() {
  static const std::string s = metrics::params_schema(R"json({
    "data": {"type": "string", "default": "wikitext-2-raw-v1/wiki.test.raw",
      "description": "text file when no corpus is connected: '<data set>/<file>' of the data mirror/cache (e.g. wikitext-2-raw-v1/wiki.test.raw, tinyshakespeare/input.txt) or an absolute path"},
    "text_format": {"type": "string", "enum": ["lines", "raw"], "default": "lines",
      "description": "lines: the file's lines as Hugging Face datasets reads a text data set (blank lines empty) joined with `separator` (the guide's \"\\n\\n\".join(test[\"text\"])); raw: the file as is"},
    "split": {"type": "string", "default": "validation",
      "description": "split of the connected corpus artifact (its <split>.jsonl shards)"},
    "separator": {"type": "string", "default": "\n\n",
      "description": "text placed between documents / rows before tokenizing"},
    "max_length": {"type": "integer", "minimum": 0, "default": 0,
      "description": "window length in tokens; 0 = the model's max_position_embeddings (RoBERTa: minus 2)"},
    "stride": {"type": "integer", "minimum": 1, "default": 512,
      "description": "tokens between window starts (the guide's stride); each window scores only tokens the previous one did not reach"},
    "max_tokens": {"type": "integer", "minimum": 0, "default": 0,
      "description": "score only the first N tokens of the tokenized text; 0 = all"},
    "reduction": {"type": "string", "enum": ["tokens", "hf_guide"], "default": "tokens",
      "description": "tokens: exp of the mean NLL over every scored token; hf_guide: the guide's exact weighting (each window's mean loss times valid labels - 1, which under-weights later windows by one token)"},
    "max_batch_tokens": {"type": "integer", "minimum": 0, "default": 16384,
      "description": "cap on batch size x window length per forward pass (memory); 0 = only batch_size"}
  })json");
  return s;
}

const biaslab::InputPort kInputs[] = {
    {"models", "model", 1, -1, "models to evaluate; later models are compared with the first on the same windows"},
    {"corpus", "corpus", 0, 1, "text corpus to evaluate on (else the `data` file)"}};

const biaslab::PluginDescriptor kPlugin = {
    .abi_version = biaslab::kPluginAbiVersion,
    .name = "metric.perplexity",
    .version = "1.0.0",
    .kind = biaslab::PluginKind::metric,
    .summary = "sliding-window token perplexity (HF guide) of causal LMs, pseudo-perplexity of masked LMs",
    .params_schema = schema().c_str(),
    .inputs = kInputs,
    .num_inputs = 2,
    .output_type = "results",
    .create = [] { return std::unique_ptr<biaslab::Operator>(new Perplexity); }};

}  // namespace

BIASLAB_PLUGIN(kPlugin)
