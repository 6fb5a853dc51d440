#include "metric_support.hpp"

#include <algorithm>
#include <cstdlib>
#include <cmath>
#include <fstream>
#include <limits>
#include <numeric>
#include <stdexcept>

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "biaslab/data/data_manager.hpp"
#include "biaslab/data/missing_data.hpp"
#include "biaslab/eval/likelihood.hpp"
#include "biaslab/runtime/model_config.hpp"

namespace biaslab::metrics {

namespace fs = std::filesystem;
using nlohmann::json;

// ---- parameters ------------------------------------------------------------------------------------

namespace {

const char* const kCommonProperties = R"json({
  "batch_size": {"type": "integer", "minimum": 1, "default": 32,
    "description": "sequences per forward pass (batched by length; results do not depend on it beyond float32 noise)"},
  "device": {"type": "string", "default": "",
    "description": "torch device for the models (\"cpu\", \"cuda\", \"cuda:1\"); empty: the run's --device"},
  "dtype": {"type": "string", "enum": ["native", "float32", "bfloat16", "float16"], "default": "native",
    "description": "parameter and compute dtype of the scored models. native: the dtype a biaslab compressor saved the model in (compress.cast bfloat16 / float16 output is scored in bfloat16 / float16 compute), float32 for source checkpoints (as HF from_pretrained and the references compute, whatever dtype the checkpoint is stored in); float32 / bfloat16 / float16: that dtype for every model. Rows record it (extra.dtype). float16 needs a CUDA device (libtorch 1.13 has no CPU float16 matmul)"},
  "noise_floor": {"type": "boolean", "default": true,
    "description": "when the node compares models: also re-score the first (base) model once with another batch size (1, or 7 when batch_size is 1) and thread count (1, or 2 when scoring uses 1) and compare it with itself; emits <metric>.noise_floor rows and adds extra.noise_floor / extra.exceeds_noise_floor to every <metric>.diff row (docs/noise_floor.md)"},
  "bootstrap_resamples": {"type": "integer", "minimum": 0, "default": 1000,
    "description": "bootstrap resamples for the 95% confidence intervals (ci_low/ci_high) of every score; 0 = no intervals. Seeded by the node seed"},
  "threads": {"type": "integer", "minimum": 0, "default": 0,
    "description": "intra-op threads (torch::set_num_threads) while scoring; 0: the node's thread budget (--threads / --jobs). 1 avoids OpenMP overhead for tiny models and busy machines"},
  "permutations": {"type": "integer", "minimum": 0, "default": 10000,
    "description": "random sign-flip permutations of the paired permutation test comparing each later input model with the first (exact enumeration when 2^n is smaller); 0 = no test"}
})json";

}  // namespace

const char* const kIfMissingProperty = R"json({
  "if_missing": {"type": "string", "enum": ["error", "skip"], "default": "error",
    "description": "when the benchmark file is in neither the data mirror ($BIASLAB_DATA_MIRROR) nor the data cache: error = download it where the registry has a URL and downloads are allowed (BIASLAB_OFFLINE unset), else fail naming the mirror layout; skip = never download, log a warning and emit no rows for it (offline pipelines such as the quickstart)"}
})json";

IfMissing parse_if_missing(const std::string& value) {
  if (value == "error") return IfMissing::error;
  if (value == "skip") return IfMissing::skip;
  throw std::invalid_argument("if_missing must be \"error\" or \"skip\", not '" + value + "'");
}

std::string params_schema(std::string_view specific_properties) { return params_schema(specific_properties, {}); }

std::string params_schema(std::string_view specific_properties, std::initializer_list<std::string_view> more_properties) {
  json properties = json::parse(kCommonProperties);
  auto merge = [&](std::string_view text) {
    const json parsed = json::parse(text);  // named: items() only references it
    for (const auto& [name, property] : parsed.items()) {
      if (properties.contains(name)) throw std::logic_error("params_schema: property '" + name + "' defined twice");
      properties[name] = property;
    }
  };
  merge(specific_properties);
  for (auto more : more_properties) merge(more);
  for (const auto& [name, property] : properties.items()) {
    for (const char* key : {"type", "default", "description"})
      if (!property.contains(key))
        throw std::logic_error("params_schema: property '" + name + "' has no '" + key + "'");
  }
  json schema = {{"$schema", "http://json-schema.org/draft-07/schema#"},
                 {"type", "object"},
                 {"additionalProperties", false},
                 {"properties", properties}};
  return schema.dump();
}

// ---- models ------------------------------------------------------------------------------------------

void require_distinct_labels(std::span<const Artifact> models, std::string_view plugin) {
  if (models.empty()) throw std::invalid_argument(std::string(plugin) + ": no input models");
  for (std::size_t i = 0; i < models.size(); ++i)
    for (std::size_t j = 0; j < i; ++j)
      if (models[i].producer == models[j].producer)
        throw std::invalid_argument(std::string(plugin) + ": model '" + models[i].producer +
                                    "' is an input twice; results are keyed by the model label");
}

namespace {

// artifact.json of the artifact: the engine's copy (Artifact::meta), else the file itself.
json artifact_meta(const Artifact& artifact) {
  if (!artifact.meta.empty()) return artifact.meta;
  const auto file = artifact.path / "artifact.json";
  if (!fs::is_regular_file(file)) return json::object();
  std::ifstream in(file);
  return json::parse(in, nullptr, /*allow_exceptions=*/false);
}

}  // namespace

ScoringDtype scoring_dtype(const std::string& requested, const Artifact& artifact) {
  if (requested != "native") return {runtime::parse_dtype(requested), "dtype parameter"};
  const auto meta = artifact_meta(artifact);
  if (meta.is_object() && meta.contains("compressor")) {
    const auto stored = runtime::ModelConfig::from_file(artifact.path / "config.json").torch_dtype;
    if (stored.empty()) return {torch::kFloat32, "native: " + meta["compressor"].get<std::string>() + " output without torch_dtype"};
    return {runtime::parse_dtype(stored), "native: " + meta["compressor"].get<std::string>() + " output, config.json torch_dtype"};
  }
  return {torch::kFloat32, "native: float32 for a source checkpoint"};
}

ScoredModel load_scored_model(const NodeContext& ctx, const Artifact& artifact) {
  const auto& params = ctx.params();
  runtime::LoadOptions options;
  const auto requested = params.value("dtype", std::string("native"));
  const auto dtype = scoring_dtype(requested, artifact);
  options.dtype = dtype.dtype;
  std::string device = params.value("device", std::string());
  if (device.empty()) device = ctx.device().empty() ? std::string("cpu") : ctx.device();
  options.device = torch::Device(device);
  if (dtype.dtype == torch::kFloat16 && options.device.is_cpu())
    throw std::invalid_argument("model '" + artifact.producer + "' (" + artifact.path.string() +
                                ") would be scored in float16 (" + dtype.source + "), but libtorch 1.13 has no float16 "
                                "matmul on CPU: set the metric's device to a CUDA device, or dtype = \"float32\" to "
                                "score the float16 weights with float32 compute (measures weight rounding only)");
  const auto threads = params.value("threads", 0);
  options.threads = threads > 0 ? threads : ctx.threads();
  ScoredModel m;
  m.label = artifact.producer;
  m.path = artifact.path;
  m.model = runtime::load_model(artifact, options);
  m.tokenizer = runtime::load_tokenizer(artifact.path);
  m.scoring = scoring_options(ctx);
  m.dtype = runtime::dtype_name(m.model->dtype());
  m.dtype_source = dtype.source;
  return m;
}

bool artifact_is_causal(const Artifact& artifact) {
  return runtime::is_causal(runtime::ModelConfig::from_file(artifact.path / "config.json").architecture);
}

std::string artifact_architecture(const Artifact& artifact) {
  return runtime::hf_class_name(runtime::ModelConfig::from_file(artifact.path / "config.json").architecture);
}

runtime::ScoringOptions scoring_options(const NodeContext& ctx) {
  runtime::ScoringOptions options;
  options.batch_size = ctx.params().value("batch_size", std::int64_t{32});
  return options;
}

std::int64_t require_mask_id(const ScoredModel& m) {
  const auto id = m.tokenizer->mask_id();
  if (!id) throw std::runtime_error("model '" + m.label + "' (" + m.path.string() + "): its tokenizer has no mask token");
  return *id;
}

// ---- data ----------------------------------------------------------------------------------------------

fs::path resolve_data_file(std::string_view spec_view) {
  const std::string spec(spec_view);
  if (spec.empty()) throw std::invalid_argument("no data file given");
  const fs::path as_path(spec);
  if (as_path.is_absolute()) {
    if (!fs::is_regular_file(as_path)) throw std::runtime_error("data file " + spec + " does not exist");
    return as_path;
  }
  data::DataManager manager;
  for (const std::string& candidate : {spec, "corpora/" + spec}) {
    if (auto split = data::split_data_file_spec(manager.registry(), candidate)) return manager.file(split->first, split->second);
  }
  std::string known;
  for (const auto& set : manager.registry().datasets()) known += (known.empty() ? "" : ", ") + set.name;
  throw std::runtime_error("data file '" + spec + "' is neither an absolute path nor '<data set>/<file>' of a known data set (" +
                           known + ")");
}

std::optional<fs::path> find_local_data_file(std::string_view spec_view) {
  const std::string spec(spec_view);
  if (spec.empty()) throw std::invalid_argument("no data file given");
  const fs::path as_path(spec);
  if (as_path.is_absolute()) return fs::is_regular_file(as_path) ? std::optional<fs::path>(as_path) : std::nullopt;
  data::DataManager manager;
  for (const std::string& candidate : {spec, "corpora/" + spec}) {
    const auto split = data::split_data_file_spec(manager.registry(), candidate);
    if (!split) continue;
    // status() hashes present copies (once) but never downloads.
    for (const auto& file : manager.status(split->first).files) {
      if (file.file->path != split->second) continue;
      if (file.location != data::Location::Missing) return file.local_path;
      if (!file.problem.empty())
        throw std::runtime_error("data file '" + spec + "' is present but rejected: " + file.problem);
      return std::nullopt;
    }
    // Not a registered file of the set: resolve_data_file gives the precise error.
    return resolve_data_file(spec);
  }
  return resolve_data_file(spec);  // throws: not '<data set>/<file>'
}

std::optional<fs::path> resolve_data_file(std::string_view spec, IfMissing if_missing, const NodeContext& ctx,
                                          std::string_view plugin) {
  if (if_missing == IfMissing::error) return resolve_data_file(spec);
  auto found = find_local_data_file(spec);
  if (!found) {
    // Remembered in the artifact: a later run with the data re-runs this node instead of using the cache.
    data::record_missing_data(ctx.output_dir(), spec);
    const char* mirror = std::getenv("BIASLAB_DATA_MIRROR");
    ctx.log().warn("{}: skipping {}: in neither the data mirror ({}) nor the data cache ({}); if_missing = \"skip\"",
                   plugin, spec, mirror && *mirror ? mirror : "BIASLAB_DATA_MIRROR not set",
                   data::default_data_cache_dir().string());
  }
  return found;
}

fs::path resolve_data_set(std::string_view name) {
  data::DataManager manager;
  return manager.resolve(name);
}

// ---- bias-bench causal scoring ---------------------------------------------------------------------------

BosToken bias_bench_bos(const runtime::Tokenizer& tokenizer) {
  if (auto id = tokenizer.token_to_id("<|endoftext|>")) return {*id, "<|endoftext|>"};
  if (auto id = tokenizer.bos_id()) return {*id, "bos token"};
  if (auto id = tokenizer.eos_id()) return {*id, "eos token"};
  throw std::runtime_error("tokenizer " + tokenizer.name() + " has no <|endoftext|>, BOS or EOS token to condition on");
}

std::vector<double> bias_bench_causal_scores(const runtime::LanguageModel& model,
                                             const std::vector<std::vector<std::int64_t>>& sentences,
                                             std::int64_t bos_id, const runtime::ScoringOptions& options) {
  for (std::size_t i = 0; i < sentences.size(); ++i)
    if (sentences[i].empty()) throw std::invalid_argument("causal scoring: sentence " + std::to_string(i) + " has no tokens");
  const torch::Tensor bos_logprobs = runtime::next_token_logprobs(model, {{bos_id}}, options).contiguous();
  const float* first = bos_logprobs.data_ptr<float>();
  const auto scored = runtime::score_causal(model, sentences, {}, options);
  std::vector<double> scores(sentences.size());
  std::vector<double> probabilities;
  for (std::size_t i = 0; i < sentences.size(); ++i) {
    probabilities.clear();
    probabilities.push_back(std::exp(static_cast<double>(first[sentences[i][0]])));
    for (float lp : scored[i].logprobs) probabilities.push_back(std::exp(static_cast<double>(lp)));
    scores[i] = eval::bias_bench_causal_score(probabilities);
  }
  return scores;
}

std::vector<std::vector<float>> causal_logprobs_at(const runtime::LanguageModel& model,
                                                   const std::vector<std::vector<std::int64_t>>& sequences,
                                                   const std::vector<std::vector<std::size_t>>& rows,
                                                   const runtime::ScoringOptions& options) {
  if (!model.is_causal()) throw std::invalid_argument("causal_logprobs_at: " + model.architecture() + " is not a causal LM");
  if (rows.size() != sequences.size()) throw std::invalid_argument("causal_logprobs_at: one row list per sequence needed");
  if (options.batch_size <= 0) throw std::invalid_argument("causal_logprobs_at: batch_size must be positive");
  c10::InferenceMode guard;
  const auto vocab = model.config().vocab_size;
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < sequences.size(); ++i) {
    for (auto id : sequences[i])
      if (id < 0 || id >= vocab)
        throw std::invalid_argument("causal_logprobs_at: token id " + std::to_string(id) + " outside the vocabulary");
    for (auto r : rows[i])
      if (r + 1 >= sequences[i].size())
        throw std::invalid_argument("causal_logprobs_at: row " + std::to_string(r) + " has no next token in sequence " +
                                    std::to_string(i));
    if (!rows[i].empty()) order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return sequences[a].size() > sequences[b].size(); });
  const auto& pad_config = model.config().pad_token_id;
  const std::int64_t pad = pad_config && *pad_config >= 0 && *pad_config < vocab ? *pad_config : 0;
  std::vector<std::vector<float>> out(sequences.size());
  for (std::size_t start = 0; start < order.size();) {
    const auto length = static_cast<std::int64_t>(sequences[order[start]].size());
    std::size_t count = 0;
    while (start + count < order.size() && static_cast<std::int64_t>(count) < options.batch_size &&
           (options.max_batch_tokens <= 0 || count == 0 ||
            static_cast<std::int64_t>(count + 1) * length <= options.max_batch_tokens))
      ++count;
    const auto B = static_cast<std::int64_t>(count);
    auto ids = torch::full({B, length}, pad, torch::kLong);
    auto mask = torch::zeros({B, length}, torch::kLong);
    auto ids_a = ids.accessor<std::int64_t, 2>();
    auto mask_a = mask.accessor<std::int64_t, 2>();
    std::vector<std::int64_t> flat_rows, targets;
    for (std::int64_t b = 0; b < B; ++b) {
      const auto& seq = sequences[order[start + static_cast<std::size_t>(b)]];
      for (std::size_t t = 0; t < seq.size(); ++t) {
        ids_a[b][static_cast<std::int64_t>(t)] = seq[t];
        mask_a[b][static_cast<std::int64_t>(t)] = 1;
      }
      for (auto r : rows[order[start + static_cast<std::size_t>(b)]]) {
        flat_rows.push_back(b * length + static_cast<std::int64_t>(r));
        targets.push_back(seq[r + 1]);
      }
    }
    const auto positions = (torch::cumsum(mask, 1) - 1).clamp_min(0);
    const auto hidden = model.hidden_states(ids, mask, positions);
    // The head on the requested rows (every row of each sequence for per-sequence int8 heads).
    const auto logprobs = runtime::head_logprobs(model, hidden, mask, flat_rows, targets);
    const float* lp = logprobs.data();
    std::size_t k = 0;
    for (std::size_t b = 0; b < count; ++b) {
      auto& dest = out[order[start + b]];
      const auto n = rows[order[start + b]].size();
      dest.assign(lp + k, lp + k + n);
      k += n;
    }
    start += count;
  }
  return out;
}

// ---- statistics ------------------------------------------------------------------------------------------

StatsOptions stats_options(const NodeContext& ctx) {
  StatsOptions options;
  options.resamples = ctx.params().value("bootstrap_resamples", std::size_t{1000});
  options.permutations = ctx.params().value("permutations", std::size_t{10000});
  options.seed = ctx.seed();
  return options;
}

std::optional<std::pair<double, double>> percentile_interval(std::span<const double> replicates, double confidence) {
  std::vector<double> valid;
  valid.reserve(replicates.size());
  for (double r : replicates)
    if (!std::isnan(r)) valid.push_back(r);
  if (valid.empty()) return std::nullopt;
  // Same percentiles as eval::bootstrap_ci (snapped so 0.95 gives exactly 2.5 / 97.5).
  const double lower_q = std::round(100.0 * (1.0 - confidence) / 2.0 * 1e9) / 1e9;
  return std::make_pair(eval::numpy_percentile(valid, lower_q), eval::numpy_percentile(valid, 100.0 - lower_q));
}

std::optional<eval::ConfidenceInterval> bootstrap(std::size_t n_items, const eval::IndexStatistic& statistic,
                                                  const StatsOptions& options) {
  if (options.resamples == 0 || n_items == 0) return std::nullopt;
  const auto replicates = eval::bootstrap_replicates(n_items, statistic, options.resamples, options.seed);
  const auto interval = percentile_interval(replicates, options.confidence);
  if (!interval) return std::nullopt;
  std::vector<std::size_t> all(n_items);
  std::iota(all.begin(), all.end(), std::size_t{0});
  eval::ConfidenceInterval ci;
  ci.estimate = statistic(all);
  ci.lower = interval->first;
  ci.upper = interval->second;
  ci.confidence = options.confidence;
  ci.invalid_resamples = static_cast<std::size_t>(std::count_if(replicates.begin(), replicates.end(),
                                                                [](double r) { return std::isnan(r); }));
  ci.resamples = replicates.size() - ci.invalid_resamples;
  return ci;
}

void set_ci(ResultRow& row, const std::optional<eval::ConfidenceInterval>& ci) {
  if (!ci) return;
  row.ci_low = ci->lower;
  row.ci_high = ci->upper;
}

Comparison compare_models(std::size_t n_items, const PairedStatistic& statistic, const StatsOptions& options,
                          std::span<const int> base_decisions, std::span<const int> compressed_decisions) {
  Comparison c;
  c.n = n_items;
  std::vector<std::size_t> all(n_items);
  std::iota(all.begin(), all.end(), std::size_t{0});
  std::vector<std::uint8_t> none(n_items, 0);
  c.base = statistic(all, none, 0);
  c.compressed = statistic(all, none, 1);
  c.difference = c.compressed - c.base;
  if (n_items == 0) return c;
  const eval::PairedDifference difference = [&](std::span<const std::size_t> items,
                                                std::span<const std::uint8_t> swapped) {
    return statistic(items, swapped, 1) - statistic(items, swapped, 0);
  };
  if (options.permutations > 0)
    c.permutation = eval::paired_permutation_test(n_items, difference, {options.permutations, options.seed});
  c.difference_ci = bootstrap(n_items, [&](std::span<const std::size_t> items) { return difference(items, none); },
                              options);
  if (!base_decisions.empty() || !compressed_decisions.empty()) {
    c.flips = eval::count_flips(base_decisions, compressed_decisions);
    c.mcnemar = eval::mcnemar_test(*c.flips);
  }
  return c;
}

Comparison compare_item_values(std::span<const double> base, std::span<const double> compressed,
                               const std::function<double(std::span<const double>)>& aggregate,
                               const StatsOptions& options, std::span<const int> base_decisions,
                               std::span<const int> compressed_decisions) {
  if (base.size() != compressed.size()) throw std::invalid_argument("compare_item_values: length mismatch");
  const auto agg = aggregate ? aggregate : [](std::span<const double> v) {
    if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
    double sum = 0;
    for (double x : v) sum += x;
    return sum / static_cast<double>(v.size());
  };
  std::vector<double> gathered;
  const PairedStatistic statistic = [&](std::span<const std::size_t> items, std::span<const std::uint8_t> swapped,
                                        int which) {
    gathered.resize(items.size());
    for (std::size_t k = 0; k < items.size(); ++k) {
      const std::size_t i = items[k];
      const bool take_compressed = (which == 1) != (swapped[i] != 0);
      gathered[k] = take_compressed ? compressed[i] : base[i];
    }
    return agg(gathered);
  };
  return compare_models(base.size(), statistic, options, base_decisions, compressed_decisions);
}

ResultRow comparison_row(const std::string& compressed_label, const std::string& base_label, const std::string& metric,
                         const std::string& category, const Comparison& c, json extra) {
  ResultRow row;
  row.model = compressed_label;
  row.metric = metric;
  row.category = category;
  row.value = c.difference;
  row.n = static_cast<std::int64_t>(c.n);
  set_ci(row, c.difference_ci);
  extra["base_model"] = base_label;
  extra["base_score"] = json_number(c.base);
  extra["compressed_score"] = json_number(c.compressed);
  if (c.permutation) {
    extra["permutation_p"] = json_number(c.permutation->p_value);
    extra["permutations"] = c.permutation->permutations;
    extra["permutation_exact"] = c.permutation->exact;
  }
  if (c.flips) {
    extra["flips"] = {{"base_only", c.flips->base_only},
                      {"compressed_only", c.flips->compressed_only},
                      {"both_positive", c.flips->both_positive},
                      {"both_negative", c.flips->both_negative},
                      {"total", c.flips->flips()}};
  }
  if (c.mcnemar) {
    extra["mcnemar_exact_p"] = json_number(c.mcnemar->exact_p);
    extra["mcnemar_mid_p"] = json_number(c.mcnemar->mid_p);
  }
  row.extra = std::move(extra);
  return row;
}

// ---- numerical noise floor --------------------------------------------------------------------------

NoiseFloorComputation noise_floor_computation(std::int64_t node_batch_size, int node_threads) {
  // Another batch composition and padding at a cost close to the node's own pass (batch size 1
  // would make the floor the most expensive scoring of the node).
  const std::int64_t batch = node_batch_size > 1 ? std::max<std::int64_t>(1, node_batch_size / 2 - 1) : 7;
  return {.batch_size = batch, .threads = node_threads > 1 ? 1 : 2};
}

bool noise_floor_enabled(const NodeContext& ctx) { return ctx.params().value("noise_floor", true); }

void with_computation(ScoredModel& model, const NoiseFloorComputation& computation, const std::function<void()>& body) {
  struct Restore {
    ScoredModel& model;
    std::int64_t batch_size;
    int threads;
    ~Restore() {
      model.scoring.batch_size = batch_size;
      model.noise_floor_run = false;
      torch::set_num_threads(threads);
    }
  } restore{model, model.scoring.batch_size, torch::get_num_threads()};
  model.scoring.batch_size = computation.batch_size;
  model.noise_floor_run = true;
  torch::set_num_threads(computation.threads);
  body();
}

double max_abs_item_change(std::span<const double> a, std::span<const double> b) {
  if (a.size() != b.size())
    throw std::logic_error("noise floor: " + std::to_string(a.size()) + " item scores vs " + std::to_string(b.size()));
  double largest = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) && std::isnan(b[i])) continue;
    const double change = std::isnan(a[i]) || std::isnan(b[i]) ? std::numeric_limits<double>::infinity()
                                                                 : std::fabs(a[i] - b[i]);
    largest = std::max(largest, change);
  }
  return largest;
}

namespace {

constexpr std::string_view kDiffSuffix = ".diff";
bool is_diff_metric(const std::string& metric) { return metric.ends_with(kDiffSuffix); }
std::string floor_metric(const std::string& diff_metric) {
  return diff_metric.substr(0, diff_metric.size() - kDiffSuffix.size()) + ".noise_floor";
}
std::optional<std::int64_t> total_flips(const json& extra) {
  if (!extra.contains("flips")) return std::nullopt;
  return extra["flips"].at("total").get<std::int64_t>();
}

}  // namespace

NoiseFloor::NoiseFloor(const std::vector<ResultRow>& floor_comparison_rows, double max_abs_item_change,
                       const NoiseFloorComputation& computation) {
  for (const auto& diff : floor_comparison_rows) {
    if (!is_diff_metric(diff.metric)) continue;
    ResultRow row = diff;
    row.metric = floor_metric(diff.metric);
    row.extra["max_abs_item_change"] = json_number(max_abs_item_change);
    row.extra["computation"] = computation.to_json();
    rows_.push_back(std::move(row));
  }
}

void NoiseFloor::annotate(ResultRow& row) const {
  if (!is_diff_metric(row.metric)) return;
  const auto metric = floor_metric(row.metric);
  const auto floor = std::find_if(rows_.begin(), rows_.end(), [&](const ResultRow& f) {
    return f.metric == metric && f.category == row.category;
  });
  if (floor == rows_.end()) {  // e.g. a category only the compressed model could score
    row.extra["noise_floor"] = nullptr;
    row.extra["exceeds_noise_floor"] = nullptr;
    return;
  }
  json summary = {{"difference", json_number(floor->value)},
                  {"max_abs_item_change", floor->extra.at("max_abs_item_change")},
                  {"n", floor->n ? json(*floor->n) : json(nullptr)}};
  const auto floor_flips = total_flips(floor->extra), flips = total_flips(row.extra);
  if (floor_flips) summary["flips"] = *floor_flips;
  json exceeds = nullptr;
  if (flips && floor_flips)
    exceeds = *flips > *floor_flips;
  else if (std::isfinite(row.value) && std::isfinite(floor->value))
    exceeds = std::fabs(row.value) > std::fabs(floor->value);
  row.extra["noise_floor"] = std::move(summary);
  row.extra["exceeds_noise_floor"] = std::move(exceeds);
}

// ---- misc ------------------------------------------------------------------------------------------------

json json_number(double value) { return std::isfinite(value) ? json(value) : json(nullptr); }

void check_cancelled(const NodeContext& ctx) {
  if (ctx.cancelled()) throw std::runtime_error("node '" + ctx.node_name() + "' interrupted");
}

}  // namespace biaslab::metrics
