#pragma once
// Code shared by the metric plugins (metric.crows_pairs, metric.stereoset, metric.seat, metric.bbq,
// metric.perplexity): common parameters, loading the scored models, locating benchmark files,
// bias-bench's causal sentence score, and the statistics every metric reports (bootstrap CIs of each
// score, paired comparisons of each later input model against the first one).
//
// Compiled once into a static library that every metric plugin links (hidden visibility, so nothing
// here leaks out of a plugin).
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "biaslab/artifact.hpp"
#include "biaslab/eval/statistics.hpp"
#include "biaslab/node_context.hpp"
#include "biaslab/results.hpp"
#include "biaslab/runtime/model.hpp"
#include "biaslab/runtime/scoring.hpp"
#include "biaslab/runtime/tokenizers/tokenizer.hpp"

namespace biaslab::metrics {

// ---- parameters ------------------------------------------------------------------------------------

// A complete draft-07 parameter schema: `specific_properties` (a JSON object text of the plugin's own
// properties) merged with the properties every metric plugin takes:
//   batch_size (32), device ("" = the run's device), dtype ("native", see scoring_dtype),
//   bootstrap_resamples (1000; 0 = no confidence intervals), permutations (10000; 0 = no permutation test),
//   threads (0 = the node's thread budget), noise_floor (true; see NoiseFloor).
// Throws std::logic_error when a property is defined twice or lacks type/default/description.
std::string params_schema(std::string_view specific_properties);
// The same with further property objects merged in (shared ones such as kIfMissingProperty).
std::string params_schema(std::string_view specific_properties, std::initializer_list<std::string_view> more_properties);

// The `if_missing` property (a JSON object text to merge into a plugin's specific properties) of metrics
// whose benchmark file may be absent, e.g. in the offline quickstart:
//   "error" (default): find the file in the mirror or cache, else download it (unless BIASLAB_OFFLINE),
//                      else fail naming the mirror layout -- as resolve_data_file;
//   "skip":            use the file only when the mirror or cache has it; otherwise log a warning and score
//                      nothing from it. Never downloads.
extern const char* const kIfMissingProperty;
enum class IfMissing { error, skip };
IfMissing parse_if_missing(const std::string& value);  // throws on anything but "error" / "skip"

// ---- models ------------------------------------------------------------------------------------------

struct ScoredModel {
  std::string label;  // the input artifact's producer: the model column of every row
  std::filesystem::path path;
  std::unique_ptr<runtime::LanguageModel> model;
  std::unique_ptr<runtime::Tokenizer> tokenizer;
  // How to batch the scoring passes: scoring_options(ctx), changed for the noise-floor re-run. Metrics
  // score with these (not with scoring_options(ctx)) so the floor's computation takes effect.
  runtime::ScoringOptions scoring;
  std::string dtype;         // compute dtype actually used ("float32", "bfloat16", "float16")
  std::string dtype_source;  // why: the dtype parameter, or what "native" resolved from
  // True while score_models re-scores the base model for its noise floor: skip side outputs
  // (files in the node's artifact) that would overwrite the base model's own.
  bool noise_floor_run = false;

  bool causal() const { return model->is_causal(); }
};

// Throws unless every input model has its own label (the producer): rows are keyed by it, and the results
// database refuses two rows with the same (model, metric, category).
void require_distinct_labels(std::span<const Artifact> models, std::string_view plugin);

// The compute dtype of a model and why (`dtype` parameter of the metrics):
//   "float32" / "bfloat16" / "float16": as requested;
//   "native": the dtype the artifact was compressed to -- for a model written by a biaslab compressor
//     (artifact.json has "compressor"; compress.cast sets its torch_dtype) its config.json torch_dtype,
//     float32 when absent; for any other model directory (source.hf snapshots, fixtures) float32: the
//     torch_dtype of a published checkpoint is its storage format (Pythia, BERT fixtures: float16), and
//     HF from_pretrained and the reference implementations (bias-bench) compute in float32.
struct ScoringDtype {
  torch::Dtype dtype = torch::kFloat32;
  std::string source;
};
ScoringDtype scoring_dtype(const std::string& requested, const Artifact& artifact);

// Loads model + tokenizer of a "model" artifact with the node's device / dtype (scoring_dtype) / threads
// (else thread budget). Throws, naming the way out, for float16 compute on CPU (libtorch 1.13 has no CPU
// float16 matmul): never silently upcast.
ScoredModel load_scored_model(const NodeContext& ctx, const Artifact& artifact);
// Reads only config.json (cheap): whether the artifact holds a causal LM. Used to refuse unsupported
// model kinds before any model is loaded.
bool artifact_is_causal(const Artifact& artifact);
std::string artifact_architecture(const Artifact& artifact);

runtime::ScoringOptions scoring_options(const NodeContext& ctx);

// The tokenizer's mask token id; throws naming the model when it has none.
std::int64_t require_mask_id(const ScoredModel& m);

// ---- data ----------------------------------------------------------------------------------------------

// A benchmark file: "<data set>/<file>" as in the data registry and the data mirror
// ("crows_pairs/crows_pairs_anonymized.csv", "corpora/wikitext-2-raw-v1/wiki.test.raw"; the
// "corpora/" prefix may be left out), found in $BIASLAB_DATA_MIRROR or the data cache (downloaded
// there when the registry has a URL), checksum-verified; or an existing absolute path, used as is.
std::filesystem::path resolve_data_file(std::string_view spec);
// A benchmark file as resolve_data_file finds it, or -- only when the mirror and the cache both lack it --
// nullopt, without downloading anything. A present but corrupt copy (checksum mismatch) still throws: only
// absence is tolerated.
std::optional<std::filesystem::path> find_local_data_file(std::string_view spec);
// resolve_data_file when `if_missing` is error; find_local_data_file plus a warning naming `plugin`, the file
// and the mirror variable when it is skip.
std::optional<std::filesystem::path> resolve_data_file(std::string_view spec, IfMissing if_missing,
                                                       const NodeContext& ctx, std::string_view plugin);
// All required files of a registered data set: its verified folder.
std::filesystem::path resolve_data_set(std::string_view name);

// ---- bias-bench causal scoring ---------------------------------------------------------------------------

// The id bias-bench conditions the first token on: the token "<|endoftext|>" (hard-coded there), else
// the tokenizer's BOS, else its EOS. `source` says which one was used.
struct BosToken {
  std::int64_t id = 0;
  std::string source;
};
BosToken bias_bench_bos(const runtime::Tokenizer& tokenizer);

// bias-bench _joint_log_probability / _likelihood_score_generative for many sentences:
// p[0] from the separate [bos] pass, p[i] from a pass over the sentence without BOS, score = 2^mean log2 p
// (eval::bias_bench_causal_score). Empty sentences throw. Batched by length.
std::vector<double> bias_bench_causal_scores(const runtime::LanguageModel& model,
                                             const std::vector<std::vector<std::int64_t>>& sentences,
                                             std::int64_t bos_id, const runtime::ScoringOptions& options);

// Causal LMs: log p(sequences[i][r + 1] | sequences[i][0..r]) for each row r in rows[i] only, natural log
// from float32 log_softmax. Unlike runtime::score_causal, the LM head runs only on the requested rows, which
// matters for lm-eval style requests (a long context, a few continuation tokens). Sequences are batched by
// length (longest first, right padding, position ids cumsum(mask) - 1), so results equal single-sequence
// runs up to float32 noise.
std::vector<std::vector<float>> causal_logprobs_at(const runtime::LanguageModel& model,
                                                   const std::vector<std::vector<std::int64_t>>& sequences,
                                                   const std::vector<std::vector<std::size_t>>& rows,
                                                   const runtime::ScoringOptions& options);

// ---- statistics ------------------------------------------------------------------------------------------

struct StatsOptions {
  std::size_t resamples = 1000;
  std::size_t permutations = 10000;
  std::uint64_t seed = 0;
  double confidence = 0.95;
};
StatsOptions stats_options(const NodeContext& ctx);

// Percentile bootstrap CI of `statistic` over n items (eval::bootstrap_ci); nullopt when resampling is
// off, there are no items, or every replicate is undefined (NaN).
std::optional<eval::ConfidenceInterval> bootstrap(std::size_t n_items, const eval::IndexStatistic& statistic,
                                                  const StatsOptions& options);
// Percentile interval from precomputed replicates (NaN replicates dropped); nullopt when none is left.
std::optional<std::pair<double, double>> percentile_interval(std::span<const double> replicates,
                                                             double confidence);

void set_ci(ResultRow& row, const std::optional<eval::ConfidenceInterval>& ci);

// Comparison of a later model ("compressed") with the base model on the same items.
struct Comparison {
  double base = 0.0, compressed = 0.0, difference = 0.0;  // statistic on all items; difference = compressed - base
  std::optional<eval::ConfidenceInterval> difference_ci;  // paired bootstrap (same resampled items)
  std::optional<eval::PermutationTestResult> permutation;  // two-sided paired permutation test
  std::optional<eval::FlipCounts> flips;                  // of the 0/1 decisions, when given
  std::optional<eval::McNemarResult> mcnemar;
  std::size_t n = 0;
};

// `statistic(items, swapped, which)`: the metric of model `which` (0 = base, 1 = compressed) on the
// multiset `items`, where an item i with swapped[i] != 0 takes the OTHER model's result.
using PairedStatistic =
    std::function<double(std::span<const std::size_t> items, std::span<const std::uint8_t> swapped, int which)>;

// Runs the permutation test and the paired bootstrap (each skipped when its count is 0) and, when both
// decision vectors are given, flip counts + McNemar.
Comparison compare_models(std::size_t n_items, const PairedStatistic& statistic, const StatsOptions& options,
                          std::span<const int> base_decisions = {}, std::span<const int> compressed_decisions = {});

// Convenience: per-item values aggregated by `aggregate` (default arithmetic mean).
Comparison compare_item_values(std::span<const double> base, std::span<const double> compressed,
                               const std::function<double(std::span<const double>)>& aggregate,
                               const StatsOptions& options, std::span<const int> base_decisions = {},
                               std::span<const int> compressed_decisions = {});

// The "<metric>.diff" row of a comparison: model = the compressed model's label, value = difference
// (compressed - base), CI = paired bootstrap CI, n = items; extra: base model and score, compressed
// score, permutation p-value, flips and McNemar p-values when present, plus `extra`.
ResultRow comparison_row(const std::string& compressed_label, const std::string& base_label,
                         const std::string& metric, const std::string& category, const Comparison& comparison,
                         nlohmann::json extra = nlohmann::json::object());

// ---- misc ------------------------------------------------------------------------------------------------

// NaN-safe JSON number (JSON has no NaN: null instead).
nlohmann::json json_number(double value);

// Throws when the user interrupted the run.
void check_cancelled(const NodeContext& ctx);

// ---- numerical noise floor --------------------------------------------------------------------------

// A NodeContext that forwards everything to `inner` except emit(), which goes to `on_row`: lets
// score_models edit (dtype, noise floor) or keep the rows a plugin's emit callbacks produce.
class RowSink final : public NodeContext {
 public:
  RowSink(NodeContext& inner, std::function<void(ResultRow)> on_row) : inner_(inner), on_row_(std::move(on_row)) {}
  const std::string& node_name() const override { return inner_.node_name(); }
  const nlohmann::json& params() const override { return inner_.params(); }
  std::span<const Artifact> inputs(std::string_view port) const override { return inner_.inputs(port); }
  const std::filesystem::path& output_dir() const override { return inner_.output_dir(); }
  const std::filesystem::path& scratch_dir() const override { return inner_.scratch_dir(); }
  std::uint64_t seed() const override { return inner_.seed(); }
  int threads() const override { return inner_.threads(); }
  const std::string& device() const override { return inner_.device(); }
  spdlog::logger& log() const override { return inner_.log(); }
  void emit(ResultRow row) override { on_row_(std::move(row)); }
  void emit_example(ExampleRow row) override { inner_.emit_example(std::move(row)); }
  void progress(double fraction, std::string_view what) override { inner_.progress(fraction, what); }
  bool cancelled() const override { return inner_.cancelled(); }

 private:
  NodeContext& inner_;
  std::function<void(ResultRow)> on_row_;
};

// The mathematically equivalent but computationally different run of the noise floor: batch size
// max(1, b / 2 - 1) when the node's b is larger than 1, else 7 (other batch composition and padding);
// 1 intra-op thread when the node uses more, else 2 (other reduction splits).
struct NoiseFloorComputation {
  std::int64_t batch_size = 1;
  int threads = 1;
  nlohmann::json to_json() const { return {{"batch_size", batch_size}, {"threads", threads}}; }
};
NoiseFloorComputation noise_floor_computation(std::int64_t node_batch_size, int node_threads);
bool noise_floor_enabled(const NodeContext& ctx);  // the `noise_floor` parameter

// Runs `body` with `model.scoring.batch_size` and torch's intra-op threads set to `computation` and
// `model.noise_floor_run` set; restores all three afterwards, also when `body` throws.
void with_computation(ScoredModel& model, const NoiseFloorComputation& computation, const std::function<void()>& body);

// max |a[i] - b[i]| over the items; items NaN in both are skipped, NaN in one only count as +inf.
double max_abs_item_change(std::span<const double> a, std::span<const double> b);

// The base model of a node compared with itself re-scored under NoiseFloorComputation, through the
// plugin's own comparison code: each of its "X.diff" rows becomes an "X.noise_floor" row (model = base
// label; extra as comparison_row's plus max_abs_item_change and computation), and every "X.diff" row of a
// real comparison gets extra.noise_floor = {difference, flips (metrics with per-item decisions),
// max_abs_item_change, n} of the floor row with its metric and category, and extra.exceeds_noise_floor:
//   with flips on both rows: comparison flips > floor flips; otherwise |difference| > |floor difference|
//   (null when either difference is undefined).
class NoiseFloor {
 public:
  NoiseFloor(const std::vector<ResultRow>& floor_comparison_rows, double max_abs_item_change,
             const NoiseFloorComputation& computation);
  const std::vector<ResultRow>& rows() const { return rows_; }
  // Adds the fields above to a "X.diff" row; other rows are left alone.
  void annotate(ResultRow& row) const;

 private:
  std::vector<ResultRow> rows_;
};

// ---- the loop of every metric ------------------------------------------------------------------------

// Loads each input model in order (the first is the base of the comparisons), scores it with
// `score(model)` and emits its rows with `emit_model(sink, result)` as soon as it is scored (one model in
// memory at a time); then `emit_comparison(sink, first, later)` for every later model. The emit callbacks
// must emit through `sink`: it adds extra.dtype (the scored model's compute dtype; "base_dtype" too on
// comparisons) and the noise floor. Unless `noise_floor` is false and when there is a comparison, the base
// model is scored a second time under NoiseFloorComputation right after its first scoring;
// `item_scores(result)` (the per-item scores, in a fixed order) gives the floor's max_abs_item_change.
// Reports progress per model and stops when the run is interrupted.
template <typename Score, typename EmitModel, typename EmitComparison, typename ItemScores>
void score_models(NodeContext& ctx, std::span<const Artifact> models, Score&& score, EmitModel&& emit_model,
                  EmitComparison&& emit_comparison, ItemScores&& item_scores) {
  using Result = std::decay_t<std::invoke_result_t<Score&, const ScoredModel&>>;
  std::vector<Result> results;
  std::vector<std::string> dtypes;
  std::optional<NoiseFloor> floor;
  for (std::size_t m = 0; m < models.size(); ++m) {
    check_cancelled(ctx);
    ctx.progress(static_cast<double>(m) / static_cast<double>(models.size()), models[m].producer);
    auto model = load_scored_model(ctx, models[m]);
    results.push_back(score(std::as_const(model)));
    dtypes.push_back(model.dtype);
    RowSink model_rows(ctx, [&](ResultRow row) {
      row.extra["dtype"] = model.dtype;
      row.extra["dtype_source"] = model.dtype_source;
      ctx.emit(std::move(row));
    });
    emit_model(model_rows, results.back());
    if (m == 0 && models.size() > 1 && noise_floor_enabled(ctx)) {
      const auto computation = noise_floor_computation(model.scoring.batch_size, torch::get_num_threads());
      std::optional<Result> again;
      with_computation(model, computation, [&] { again.emplace(score(std::as_const(model))); });
      std::vector<ResultRow> rows;
      RowSink keep(ctx, [&](ResultRow row) { rows.push_back(std::move(row)); });
      emit_comparison(keep, results[0], *again);
      floor.emplace(rows, max_abs_item_change(item_scores(results[0]), item_scores(*again)), computation);
      for (auto row : floor->rows()) {
        row.extra["dtype"] = model.dtype;
        ctx.emit(std::move(row));
      }
    }
  }
  for (std::size_t m = 1; m < results.size(); ++m) {
    RowSink comparison_rows(ctx, [&](ResultRow row) {
      row.extra["dtype"] = dtypes[m];
      row.extra["base_dtype"] = dtypes[0];
      if (floor) floor->annotate(row);
      ctx.emit(std::move(row));
    });
    emit_comparison(comparison_rows, results[0], results[m]);
  }
  ctx.progress(1.0, "done");
}

}  // namespace biaslab::metrics
