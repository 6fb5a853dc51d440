// metric.seat: SEAT / WEAT effect sizes and permutation p-values as bias-bench's SEATRunner computes them
// (shared/data/METRICS.md §3): every string is encoded as the mean over all positions (special tokens
// included) of the last hidden state, L2-normalised; effect size (mean_X s - mean_Y s) / std(s, ddof=1)
// with s(w) = mean cos(w, A) - mean cos(w, B); one-sided permutation p-value from numpy's legacy MT19937
// stream seeded once and carried from test to test (so the test order matters, as in the reference).
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "biaslab/eval/python_numeric.hpp"
#include "biaslab/eval/seat.hpp"
#include "biaslab/plugin.hpp"
#include "biaslab/runtime/safetensors.hpp"
#include "metric_support.hpp"

namespace {

using biaslab::NodeContext;
using biaslab::ResultRow;
using nlohmann::json;
namespace eval = biaslab::eval;
namespace metrics = biaslab::metrics;
namespace runtime = biaslab::runtime;

constexpr std::size_t kPointEstimate = static_cast<std::size_t>(-1);  // replicate index of the estimates

// bias-bench paper groups (the same as eval::seat_mean_abs_effect_sizes).
const std::map<std::string, std::set<std::string>>& paper_groups() {
  static const std::map<std::string, std::set<std::string>> groups = {
      {"gender", {"sent-weat6", "sent-weat6b", "sent-weat7", "sent-weat7b", "sent-weat8", "sent-weat8b"}},
      {"race",
       {"sent-angry_black_woman_stereotype", "sent-angry_black_woman_stereotype_b", "sent-weat3", "sent-weat3b",
        "sent-weat4", "sent-weat5", "sent-weat5b"}},
      {"religion", {"sent-religion1", "sent-religion1b", "sent-religion2", "sent-religion2b"}},
  };
  return groups;
}

struct TestResult {
  std::string name;
  eval::WeatResult weat;
  std::vector<double> s;            // association scores: targ1 words then targ2 words
  std::size_t n_targ = 0;           // |X| (= |Y|)
  std::vector<double> replicates;   // bootstrap effect sizes (targets resampled per set)
};

struct ModelResult {
  std::string label;
  std::vector<TestResult> tests;
  json info = json::object();
};

// Stratified bootstrap of the effect size: X and Y words resampled independently with replacement,
// attribute sets fixed (their s values are per target word). Stream per test: mt19937_64(seed + k * golden),
// so both models of a comparison see the same resampled words.
std::vector<std::size_t> resample_indices(std::mt19937_64& engine, std::size_t n) {
  std::vector<std::size_t> out(2 * n);
  for (std::size_t i = 0; i < n; ++i) out[i] = eval::uniform_index(engine, n);
  for (std::size_t i = 0; i < n; ++i) out[n + i] = n + eval::uniform_index(engine, n);
  return out;
}

std::uint64_t test_seed(std::uint64_t seed, std::size_t test_index) {
  return seed + 0x9E3779B97F4A7C15ULL * static_cast<std::uint64_t>(test_index + 1);
}

class Seat final : public biaslab::Operator {
 public:
  void run(NodeContext& ctx) override {
    const auto& params = ctx.params();
    stats_ = metrics::stats_options(ctx);
    const auto models = ctx.inputs("models");
    metrics::require_distinct_labels(models, "metric.seat");
    load_tests(ctx);
    options_.n_samples = params.at("n_samples").get<std::size_t>();
    const auto cosine = params.at("cosine").get<std::string>();
    options_.cosine = cosine == "openblas_haswell" ? eval::CosineArithmetic::openblas_haswell_float32
                      : cosine == "float64"        ? eval::CosineArithmetic::float64
                                                   : eval::CosineArithmetic::openblas_skylakex_float32;
    kernel_ = cosine == "openblas_haswell" ? eval::OpenBlasSdotKernel::haswell : eval::OpenBlasSdotKernel::skylakex;
    permutation_seed_ = params.at("permutation_seed").get<std::uint32_t>();

    metrics::score_models(
        ctx, models, [&](const metrics::ScoredModel& m) { return score_model(ctx, m); },
        [&](NodeContext& out, const ModelResult& r) { emit_model(out, r); },
        [&](NodeContext& out, const ModelResult& base, const ModelResult& other) { emit_comparison(out, base, other); },
        [&](const ModelResult& r) { return item_scores(r); });
  }

 private:
  void load_tests(NodeContext& ctx) {
    const auto dir = metrics::resolve_data_set("seat");
    std::vector<std::string> names;
    for (const auto& t : ctx.params().at("tests")) names.push_back(t.get<std::string>());
    if (names.size() == 1 && names[0] == "all") names = eval::list_seat_tests(dir);
    if (names.empty()) throw std::invalid_argument("metric.seat: parameter 'tests' is empty");
    std::set<std::string> seen;
    for (const auto& name : names) {
      if (!seen.insert(name).second) throw std::invalid_argument("metric.seat: test '" + name + "' listed twice");
      const auto file = dir / (name + ".jsonl");
      if (!std::filesystem::is_regular_file(file)) {
        std::string known;
        for (const auto& n : eval::list_seat_tests(dir)) known += (known.empty() ? "" : ", ") + n;
        throw std::invalid_argument("metric.seat: unknown test '" + name + "' (no " + file.string() + "); known: " + known);
      }
      tests_.push_back(eval::load_seat_test(file));
    }
    ctx.log().info("metric.seat: {} tests from {}", tests_.size(), dir.string());
  }

  ModelResult score_model(NodeContext& ctx, const metrics::ScoredModel& m) {
    ModelResult r;
    r.label = m.label;
    r.info["architecture"] = m.model->architecture();
    // Every distinct string once.
    std::map<std::string, std::size_t> row_of;
    std::vector<std::vector<std::int64_t>> sequences;
    for (const auto& test : tests_)
      for (const auto* set : {&test.targ1, &test.targ2, &test.attr1, &test.attr2})
        for (const auto& text : set->examples)
          if (row_of.try_emplace(text, sequences.size()).second) sequences.push_back(m.tokenizer->encode(text, true).ids);
    metrics::check_cancelled(ctx);
    const torch::Tensor pooled =
        runtime::mean_pooled_hidden_states(*m.model, sequences, m.scoring).contiguous();
    const auto dim = static_cast<std::size_t>(pooled.size(1));
    std::vector<float> encodings(pooled.data_ptr<float>(), pooled.data_ptr<float>() + pooled.numel());
    for (std::size_t i = 0; i < sequences.size(); ++i)
      eval::seat_normalize_encoding(std::span<float>(encodings.data() + i * dim, dim), kernel_);
    if (!m.noise_floor_run) write_encodings(ctx, r, row_of, encodings, dim);
    auto matrix = [&](const eval::SeatSet& set) {
      eval::EmbeddingMatrix out;
      out.rows = set.examples.size();
      out.dim = dim;
      for (const auto& text : set.examples) {
        const auto* row = encodings.data() + row_of.at(text) * dim;
        out.values.insert(out.values.end(), row, row + dim);
      }
      return out;
    };
    eval::NumpyRandomState rng(permutation_seed_);  // seeded once per run, as SEATRunner
    for (std::size_t t = 0; t < tests_.size(); ++t) {
      metrics::check_cancelled(ctx);
      const auto& test = tests_[t];
      const auto X = matrix(test.targ1), Y = matrix(test.targ2), A = matrix(test.attr1), B = matrix(test.attr2);
      TestResult tr;
      tr.name = test.name;
      tr.n_targ = X.rows;
      tr.weat = eval::run_weat(X, Y, A, B, rng, options_);
      tr.s = eval::weat_association_scores(X, Y, A, B, options_.cosine);
      if (stats_.resamples > 0) {
        std::mt19937_64 engine(test_seed(stats_.seed, t));
        std::vector<double> resampled(tr.s.size());
        for (std::size_t b = 0; b < stats_.resamples; ++b) {
          const auto idx = resample_indices(engine, tr.n_targ);
          for (std::size_t k = 0; k < idx.size(); ++k) resampled[k] = tr.s[idx[k]];
          tr.replicates.push_back(eval::weat_effect_size(resampled, tr.n_targ));
        }
      }
      r.tests.push_back(std::move(tr));
    }
    r.info["strings_encoded"] = sequences.size();
    r.info["n_samples"] = options_.n_samples;
    r.info["permutation_seed"] = permutation_seed_;
    return r;
  }

  // The normalised encodings, so every WEAT number can be recomputed without the model: the artifact file
  // seat_encodings/<k>.safetensors (k = input index), tensor "encodings" [strings, dim] float32 and metadata
  // "texts_json" (the strings in row order) and "model" -- the layout of the metric goldens' file.
  void write_encodings(NodeContext& ctx, ModelResult& r, const std::map<std::string, std::size_t>& row_of,
                       const std::vector<float>& encodings, std::size_t dim) {
    json texts = json::array();
    std::vector<const std::string*> by_row(row_of.size());
    for (const auto& [text, row] : row_of) by_row[row] = &text;
    for (const auto* text : by_row) texts.push_back(*text);
    const auto tensor = torch::from_blob(const_cast<float*>(encodings.data()),
                                         {static_cast<std::int64_t>(by_row.size()), static_cast<std::int64_t>(dim)},
                                         torch::kFloat32);
    const auto dir = ctx.output_dir() / "seat_encodings";
    std::filesystem::create_directories(dir);
    const auto file = std::to_string(models_written_++) + ".safetensors";
    runtime::write_safetensors(dir / file, {{"encodings", tensor}},
                               {{"format", "pt"}, {"model", r.label}, {"texts_json", texts.dump()}});
    r.info["encodings_file"] = "seat_encodings/" + file;
  }

  // Group name -> indices into tests (paper groups present, then "all").
  std::vector<std::pair<std::string, std::vector<std::size_t>>> groups() const {
    std::vector<std::pair<std::string, std::vector<std::size_t>>> out;
    for (const auto& [group, members] : paper_groups()) {
      std::vector<std::size_t> idx;
      for (std::size_t t = 0; t < tests_.size(); ++t)
        if (members.count(tests_[t].name)) idx.push_back(t);
      if (!idx.empty()) out.emplace_back(group, std::move(idx));
    }
    std::vector<std::size_t> all(tests_.size());
    for (std::size_t t = 0; t < all.size(); ++t) all[t] = t;
    out.emplace_back("all", std::move(all));
    return out;
  }

  // Mean |effect| over `members` for bootstrap replicate b (kPointEstimate: the estimates themselves).
  static double mean_abs(const ModelResult& r, const std::vector<std::size_t>& members, std::size_t b) {
    double sum = 0;
    for (auto t : members) sum += std::fabs(b == kPointEstimate ? r.tests[t].weat.effect_size : r.tests[t].replicates[b]);
    return sum / static_cast<double>(members.size());
  }

  void emit_model(NodeContext& ctx, const ModelResult& r) {
    for (const auto& tr : r.tests) {
      ResultRow es{.model = r.label, .metric = "seat.effect_size", .category = tr.name, .value = tr.weat.effect_size};
      es.n = static_cast<std::int64_t>(tr.s.size());
      if (auto ci = metrics::percentile_interval(tr.replicates, stats_.confidence)) {
        es.ci_low = ci->first;
        es.ci_high = ci->second;
      }
      es.extra = {{"n_targets_per_set", tr.n_targ}};
      ctx.emit(std::move(es));
      ResultRow p{.model = r.label, .metric = "seat.p_value", .category = tr.name, .value = tr.weat.p_value};
      p.n = static_cast<std::int64_t>(tr.weat.total);
      p.extra = {{"exact_test", tr.weat.exact_test}, {"hits", tr.weat.hits}, {"equalities", tr.weat.equalities}};
      ctx.emit(std::move(p));
    }
    for (const auto& [group, members] : groups()) {
      ResultRow row{.model = r.label, .metric = "seat.mean_abs_effect_size", .category = group,
                    .value = mean_abs(r, members, kPointEstimate)};
      row.n = static_cast<std::int64_t>(members.size());
      if (stats_.resamples > 0) {
        std::vector<double> replicates;
        for (std::size_t b = 0; b < stats_.resamples; ++b) replicates.push_back(mean_abs(r, members, b));
        if (auto ci = metrics::percentile_interval(replicates, stats_.confidence)) {
          row.ci_low = ci->first;
          row.ci_high = ci->second;
        }
      }
      json names = json::array();
      for (auto t : members) names.push_back(r.tests[t].name);
      row.extra = {{"tests", names}};
      ctx.emit(std::move(row));
    }
    ResultRow info{.model = r.label, .metric = "seat.tests", .value = static_cast<double>(r.tests.size())};
    info.extra = r.info;
    ctx.emit(std::move(info));

    for (std::size_t t = 0; t < r.tests.size(); ++t) {
      const auto& tr = r.tests[t];
      const auto& test = tests_[t];
      json values = {{"effect_size", tr.weat.effect_size},
                     {"p_value", tr.weat.p_value},
                     {"exact_test", tr.weat.exact_test},
                     {"hits", tr.weat.hits},
                     {"total", tr.weat.total},
                     {"sizes", {test.targ1.examples.size(), test.targ2.examples.size(), test.attr1.examples.size(),
                                test.attr2.examples.size()}},
                     {"duplicates_removed", test.duplicates_removed},
                     {"association_scores", tr.s}};
      ctx.emit_example({.model = r.label, .metric = "seat", .example_id = tr.name, .values = std::move(values)});
    }
  }

  // Per-item scores of the noise floor: every target word's association score s(w, A, B), test by test.
  static std::vector<double> item_scores(const ModelResult& r) {
    std::vector<double> out;
    for (const auto& t : r.tests) out.insert(out.end(), t.s.begin(), t.s.end());
    return out;
  }

  void emit_comparison(NodeContext& ctx, const ModelResult& base, const ModelResult& other) {
    for (std::size_t t = 0; t < tests_.size(); ++t) {
      const auto& b = base.tests[t];
      const auto& c = other.tests[t];
      metrics::Comparison cmp;
      cmp.n = b.s.size();
      cmp.base = b.weat.effect_size;
      cmp.compressed = c.weat.effect_size;
      cmp.difference = cmp.compressed - cmp.base;
      // Paired bootstrap: the same resampled words for both models (same stream per test).
      if (!b.replicates.empty()) {
        std::vector<double> diffs(b.replicates.size());
        for (std::size_t k = 0; k < diffs.size(); ++k) diffs[k] = c.replicates[k] - b.replicates[k];
        if (auto ci = metrics::percentile_interval(diffs, stats_.confidence)) {
          cmp.difference_ci = eval::ConfidenceInterval{cmp.difference, ci->first, ci->second, stats_.confidence,
                                                       diffs.size(), 0};
        }
      }
      // Permutation test over target words: each word's association score is exchanged between the models.
      if (stats_.permutations > 0) {
        std::vector<double> sb(b.s.size()), sc(b.s.size());
        const eval::PairedDifference difference = [&](std::span<const std::size_t>, std::span<const std::uint8_t> swapped) {
          for (std::size_t w = 0; w < sb.size(); ++w) {
            sb[w] = swapped[w] ? c.s[w] : b.s[w];
            sc[w] = swapped[w] ? b.s[w] : c.s[w];
          }
          return eval::weat_effect_size(sc, b.n_targ) - eval::weat_effect_size(sb, b.n_targ);
        };
        cmp.permutation = eval::paired_permutation_test(b.s.size(), difference, {stats_.permutations, stats_.seed});
      }
      ctx.emit(metrics::comparison_row(other.label, base.label, "seat.effect_size.diff", tests_[t].name, cmp,
                                       {{"permutation_over", "target words"}}));
    }
    for (const auto& [group, members] : groups()) {
      // Items = tests; a permutation exchanges a whole test's effect size between the models.
      const metrics::PairedStatistic statistic = [&, members = members](std::span<const std::size_t> items,
                                                                         std::span<const std::uint8_t> swapped, int which) {
        double sum = 0;
        for (auto k : items) {
          const bool take_other = (which == 1) != (swapped[k] != 0);
          sum += std::fabs((take_other ? other : base).tests[members[k]].weat.effect_size);
        }
        return sum / static_cast<double>(items.size());
      };
      auto options = stats_;
      options.resamples = 0;  // the CI below comes from the word-level bootstrap instead
      auto cmp = metrics::compare_models(members.size(), statistic, options);
      if (stats_.resamples > 0 && !base.tests[members[0]].replicates.empty()) {
        std::vector<double> diffs;
        for (std::size_t r = 0; r < stats_.resamples; ++r) diffs.push_back(mean_abs(other, members, r) - mean_abs(base, members, r));
        if (auto ci = metrics::percentile_interval(diffs, stats_.confidence))
          cmp.difference_ci = eval::ConfidenceInterval{cmp.difference, ci->first, ci->second, stats_.confidence,
                                                       diffs.size(), 0};
      }
      ctx.emit(metrics::comparison_row(other.label, base.label, "seat.mean_abs_effect_size.diff", group, cmp,
                                       {{"permutation_over", "tests"}}));
    }
  }

  metrics::StatsOptions stats_;
  std::vector<eval::SeatTest> tests_;
  eval::WeatOptions options_;
  eval::OpenBlasSdotKernel kernel_ = eval::OpenBlasSdotKernel::skylakex;
  std::uint32_t permutation_seed_ = 0;
  std::size_t models_written_ = 0;
};

const std::string& schema() {
  static const std::string s = [] {
    json tests = json::array();
    for (const auto& t : eval::bias_bench_seat_tests()) tests.push_back(t);
    json props = json::parse(R"json({
      "tests": {"type": "array", "items": {"type": "string"}, "minItems": 1,
        "description": "SEAT/WEAT test names (files <name>.jsonl of the seat data set) in the order they run -- p-values depend on it, since the RNG state carries over; [\"all\"] = every test of the data set. Default: bias-bench's 17 tests in its order"},
      "n_samples": {"type": "integer", "minimum": 1, "default": 100000,
        "description": "permutation-test samples (bias-bench: 100000); the exact test is used when C(2n, n) <= n_samples"},
      "permutation_seed": {"type": "integer", "minimum": 0, "maximum": 4294967295, "default": 0,
        "description": "seed of numpy's legacy MT19937 for the WEAT p-values (bias-bench seeds 0 once per run); independent of the node seed so the reference p-values reproduce"},
      "cosine": {"type": "string", "enum": ["openblas_skylakex", "openblas_haswell", "float64"], "default": "openblas_skylakex",
        "description": "float32 dot-product arithmetic of the cosines: as numpy/OpenBLAS on AVX-512 (the goldens' machine), on AVX2-only CPUs, or machine-independent float64"}
    })json");
    props["tests"]["default"] = tests;
    return metrics::params_schema(props.dump());
  }();
  return s;
}

const biaslab::InputPort kInputs[] = {
    {"models", "model", 1, -1, "models to encode; later models are compared with the first on the same tests"}};

const biaslab::PluginDescriptor kPlugin = {
    .abi_version = biaslab::kPluginAbiVersion,
    .name = "metric.seat",
    .version = "1.0.0",
    .kind = biaslab::PluginKind::metric,
    .summary = "SEAT/WEAT effect sizes and permutation p-values (bias-bench SEATRunner) with CIs and paired comparisons",
    .params_schema = schema().c_str(),
    .inputs = kInputs,
    .num_inputs = 1,
    .output_type = "results",
    .create = [] { return std::unique_ptr<biaslab::Operator>(new Seat); }};

}  // namespace

BIASLAB_PLUGIN(kPlugin)
