// The compute dtype of scored models (`dtype` = "native" by default: a compress.cast bfloat16 model is scored
// with bfloat16 compute, and every row says so) and the numerical noise floor next to every comparison (the
// base model re-scored with another batch size and thread count, compared with itself by the metric's own
// comparison code: "<metric>.noise_floor" rows, extra.noise_floor on every "<metric>.diff" row).
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "metric_test_support.hpp"

using metric_test::model_artifact;
using metric_test::run_plugin;
using metric_test::RunOutput;
using nlohmann::json;

namespace {

// The model artifact a compress.cast node writes, as the engine hands it on (meta = its artifact.json).
biaslab::Artifact cast_model(const std::string& fixture, const std::string& dtype, const std::string& label) {
  const auto out = run_plugin("compress.cast", {{"dtype", dtype}}, {{"model", {model_artifact(fixture, "base")}}});
  biaslab::Artifact a;
  a.type = "model";
  a.path = out.output_dir;
  a.key = "cast-" + fixture + "-" + dtype;
  a.producer = label;
  a.meta = metric_test::read_json(out.output_dir / "artifact.json");
  return a;
}

std::string floor_metric_of(const std::string& diff_metric) {
  return diff_metric.substr(0, diff_metric.size() - std::string(".diff").size()) + ".noise_floor";
}

// Every "X.diff" row of `other` has its "X.noise_floor" row of `base` (and nothing else is a floor row), the
// floor of an fp32 model is tiny, and extra.noise_floor / exceeds_noise_floor follow the documented rule.
// Returns the number of comparison rows checked.
std::size_t check_noise_floor(const RunOutput& out, const std::string& base, const std::string& other,
                              std::int64_t floor_batch_size, int floor_threads) {
  std::size_t diffs = 0, floors = 0;
  for (const auto& row : out.rows) {
    if (row.metric.ends_with(".noise_floor")) {
      ++floors;
      BOOST_TEST(row.model == base);
      continue;
    }
    if (!row.metric.ends_with(".diff")) continue;
    BOOST_TEST_CONTEXT(row.metric << " / " << row.category) {
      ++diffs;
      BOOST_TEST(row.model == other);
      const auto& floor = out.row(base, floor_metric_of(row.metric), row.category);
      BOOST_TEST(floor.extra.at("computation") == json({{"batch_size", floor_batch_size}, {"threads", floor_threads}}));
      BOOST_TEST(floor.extra.at("base_model").get<std::string>() == base);
      const double base_score = floor.extra.at("base_score").get<double>();
      // fp32 base vs itself: equal up to float32 summation order. SEAT's effect size (difference of
      // mean cosine similarities over their standard deviation) magnifies ~4e-8 embedding rounding to
      // ~1e-6, hence 1e-5; a wrong floor is orders of magnitude larger.
      BOOST_TEST(std::fabs(floor.value) <= 1e-5 * std::max(1.0, std::fabs(base_score)));
      const double item_change = floor.extra.at("max_abs_item_change").get<double>();
      BOOST_TEST(item_change >= 0.0);
      BOOST_TEST(item_change < 1e-3);
      BOOST_TEST_MESSAGE(row.metric << " / " << row.category << ": floor difference " << floor.value
                                    << ", max |item change| " << item_change);
      const auto& summary = row.extra.at("noise_floor");
      BOOST_TEST(summary.at("difference").get<double>() == floor.value);
      BOOST_TEST(summary.at("n").get<std::int64_t>() == *floor.n);
      BOOST_TEST(summary.at("max_abs_item_change").get<double>() == item_change);
      const bool decisions = row.extra.contains("flips");
      BOOST_TEST(floor.extra.contains("flips") == decisions);
      BOOST_TEST(summary.contains("flips") == decisions);
      const bool exceeds = row.extra.at("exceeds_noise_floor").get<bool>();
      if (decisions) {
        BOOST_TEST(summary.at("flips").get<std::int64_t>() == 0);  // no decision flips from computation alone
        BOOST_TEST(exceeds == (row.extra.at("flips").at("total").get<std::int64_t>() > 0));
      } else {
        BOOST_TEST(exceeds == (std::fabs(row.value) > std::fabs(floor.value)));
      }
    }
  }
  BOOST_TEST(diffs > 0u);
  BOOST_TEST(floors == diffs);
  return diffs;
}

void check_dtypes(const RunOutput& out, const std::string& base, const std::string& base_dtype,
                  const std::string& other, const std::string& other_dtype) {
  for (const auto& row : out.rows) {
    BOOST_TEST_CONTEXT(row.model << " " << row.metric << " / " << row.category) {
      if (row.metric.ends_with(".diff")) {
        BOOST_TEST(row.extra.at("dtype").get<std::string>() == other_dtype);
        BOOST_TEST(row.extra.at("base_dtype").get<std::string>() == base_dtype);
      } else {
        BOOST_TEST(row.extra.at("dtype").get<std::string>() == (row.model == base ? base_dtype : other_dtype));
        BOOST_TEST((row.model == base || row.model == other));
      }
    }
  }
}

const json kQuick = {{"bootstrap_resamples", 50}, {"permutations", 200}};

json quick(json params) {
  params.update(kQuick);
  return params;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(scoring_dtype)

BOOST_AUTO_TEST_CASE(cast_bf16_model_is_scored_in_bf16_by_default) {
  const auto bf16 = cast_model("gpt2", "bfloat16", "bf16");
  const std::vector<biaslab::Artifact> models{model_artifact("gpt2", "base"), bf16};
  const auto native = run_plugin("metric.crows_pairs", quick({{"limit", 30}}), {{"models", models}});
  // The fixture stores float16 but is a source checkpoint: float32, as HF and bias-bench compute.
  check_dtypes(native, "base", "float32", "bf16", "bfloat16");
  BOOST_TEST(native.row("bf16", "crows_pairs.metric_score").extra.at("dtype_source").get<std::string>() ==
             "native: compress.cast output, config.json torch_dtype");
  const auto fp32 = run_plugin("metric.crows_pairs", quick({{"limit", 30}, {"dtype", "float32"}}), {{"models", models}});
  check_dtypes(fp32, "base", "float32", "bf16", "float32");
  // Same bf16 weights, bf16 vs float32 compute: the sentence scores move (by ~1e-3 relative on the fixture);
  // the float32 base is scored identically in both runs.
  const auto bf16_native = native.examples_of("bf16", "crows_pairs"), bf16_fp32 = fp32.examples_of("bf16", "crows_pairs");
  const auto base_native = native.examples_of("base", "crows_pairs"), base_fp32 = fp32.examples_of("base", "crows_pairs");
  double largest = 0.0;
  for (const auto& [id, values] : bf16_native) {
    const double a = values.at("sent_more_score").get<double>(), b = bf16_fp32.at(id).at("sent_more_score").get<double>();
    largest = std::max(largest, std::fabs(std::log(a) - std::log(b)));
    BOOST_TEST(base_native.at(id).at("sent_more_score").get<double>() == base_fp32.at(id).at("sent_more_score").get<double>());
  }
  BOOST_TEST_MESSAGE("bf16 vs float32 compute of the bf16 gpt2 fixture: max |delta log score| " << largest);
  BOOST_TEST(largest > 1e-4);
}

BOOST_AUTO_TEST_CASE(every_metric_scores_bf16_on_cpu) {
  const auto gpt2_bf16 = cast_model("gpt2", "bfloat16", "gpt2-bf16");
  const auto bert_bf16 = cast_model("bert", "bfloat16", "bert-bf16");
  const std::vector<biaslab::Artifact> causal{model_artifact("gpt2", "gpt2"), gpt2_bf16};
  const std::vector<biaslab::Artifact> masked{model_artifact("bert", "bert"), bert_bf16};
  const auto wikitext = std::string("wikitext-2-raw-v1/wiki.test.raw");
  const std::vector<std::pair<std::string, RunOutput>> runs = {
      {"crows masked", run_plugin("metric.crows_pairs", quick({{"limit", 20}}), {{"models", masked}})},
      {"crows lm-eval", run_plugin("metric.crows_pairs", quick({{"limit", 20}, {"scoring", "lm-eval"}}), {{"models", causal}})},
      {"stereoset causal", run_plugin("metric.stereoset", quick({{"limit", 20}}), {{"models", causal}})},
      {"stereoset masked", run_plugin("metric.stereoset", quick({{"limit", 20}}), {{"models", masked}})},
      {"seat", run_plugin("metric.seat", quick({{"tests", {"weat1"}}, {"n_samples", 500}}), {{"models", masked}})},
      {"bbq", run_plugin("metric.bbq", quick({{"limit", 1}}), {{"models", causal}})},
      {"perplexity", run_plugin("metric.perplexity",
                                quick({{"data", wikitext}, {"text_format", "raw"}, {"max_tokens", 400}, {"max_length", 96}, {"stride", 48}}),
                                {{"models", causal}})},
      {"pseudo-perplexity", run_plugin("metric.perplexity",
                                       quick({{"data", wikitext}, {"text_format", "raw"}, {"max_tokens", 60}, {"max_length", 64}, {"stride", 64}}),
                                       {{"models", masked}})}};
  for (const auto& [name, out] : runs) {
    BOOST_TEST_CONTEXT(name) {
      const bool is_masked = name.find("masked") != std::string::npos || name == "seat" || name == "pseudo-perplexity";
      const std::string base = is_masked ? "bert" : "gpt2", other = is_masked ? "bert-bf16" : "gpt2-bf16";
      check_dtypes(out, base, "float32", other, "bfloat16");
      std::size_t scored = 0;
      for (const auto& row : out.rows)
        if (row.model == other && !row.metric.ends_with(".diff")) {
          scored += std::isfinite(row.value) ? 1 : 0;
        }
      BOOST_TEST(scored > 0u);
    }
  }
}

BOOST_AUTO_TEST_CASE(float16_compute_on_cpu_fails_clearly) {
  const auto fp16 = cast_model("gpt2", "float16", "fp16");
  BOOST_CHECK_EXCEPTION(
      run_plugin("metric.crows_pairs", quick({{"limit", 5}}), {{"models", {model_artifact("gpt2", "base"), fp16}}}),
      std::invalid_argument, [](const std::exception& e) {
        const std::string what = e.what();
        return what.find("'fp16'") != std::string::npos && what.find("float16") != std::string::npos &&
               what.find("dtype = \"float32\"") != std::string::npos;
      });
  // Upcast only on request, and recorded.
  const auto upcast = run_plugin("metric.crows_pairs", quick({{"limit", 5}, {"dtype", "float32"}}),
                                 {{"models", {model_artifact("gpt2", "base"), fp16}}});
  BOOST_TEST(upcast.row("fp16", "crows_pairs.metric_score").extra.at("dtype").get<std::string>() == "float32");
  BOOST_TEST(upcast.row("fp16", "crows_pairs.metric_score").extra.at("dtype_source").get<std::string>() == "dtype parameter");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(noise_floor)

// Tests run scoring with 1 thread and batch_size 32: the floor re-scores with batch_size 15 and 2 threads.
BOOST_AUTO_TEST_CASE(every_metric_reports_a_floor_next_to_each_comparison) {
  const auto gpt2_bf16 = cast_model("gpt2", "bfloat16", "gpt2-bf16");
  const std::vector<biaslab::Artifact> causal{model_artifact("gpt2", "gpt2"), gpt2_bf16};
  const std::vector<biaslab::Artifact> masked{model_artifact("bert", "bert"), model_artifact("roberta", "roberta")};
  const auto wikitext = std::string("wikitext-2-raw-v1/wiki.test.raw");
  struct Case {
    std::string name, base, other;
    RunOutput out;
  };
  const std::vector<Case> cases = {
      {"crows bias-bench causal", "gpt2", "gpt2-bf16", run_plugin("metric.crows_pairs", quick({{"limit", 40}}), {{"models", causal}})},
      {"crows bias-bench masked", "bert", "roberta", run_plugin("metric.crows_pairs", quick({{"limit", 40}}), {{"models", masked}})},
      {"stereoset", "gpt2", "gpt2-bf16", run_plugin("metric.stereoset", quick({{"limit", 30}}), {{"models", causal}})},
      {"seat", "bert", "roberta", run_plugin("metric.seat", quick({{"tests", {"weat1", "weat2"}}, {"n_samples", 500}}), {{"models", masked}})},
      {"bbq", "gpt2", "gpt2-bf16", run_plugin("metric.bbq", quick({{"limit", 2}}), {{"models", causal}})},
      {"perplexity", "gpt2", "gpt2-bf16",
       run_plugin("metric.perplexity",
                  quick({{"data", wikitext}, {"text_format", "raw"}, {"max_tokens", 600}, {"max_length", 96}, {"stride", 48}}),
                  {{"models", causal}})}};
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.name) {
      const auto n = check_noise_floor(c.out, c.base, c.other, 15, 2);
      BOOST_TEST_MESSAGE(c.name << ": " << n << " comparison rows with a noise floor");
    }
  }
  // Decision metrics carry flips on both rows; the masked crows comparison (two different models) exceeds
  // its zero-flip floor.
  const auto& crows = cases[1].out.row("roberta", "crows_pairs.metric_score.diff");
  BOOST_TEST(crows.extra.at("noise_floor").at("flips").get<std::int64_t>() == 0);
  BOOST_TEST(crows.extra.at("flips").at("total").get<std::int64_t>() > 0);
  BOOST_TEST(crows.extra.at("exceeds_noise_floor").get<bool>());
}

BOOST_AUTO_TEST_CASE(switched_off_or_without_comparisons_none_is_computed) {
  const std::vector<biaslab::Artifact> masked{model_artifact("bert", "bert"), model_artifact("roberta", "roberta")};
  const auto off = run_plugin("metric.crows_pairs", quick({{"limit", 20}, {"noise_floor", false}}), {{"models", masked}});
  const auto alone = run_plugin("metric.crows_pairs", quick({{"limit", 20}}), {{"models", {model_artifact("bert", "bert")}}});
  for (const auto* out : {&off, &alone})
    for (const auto& row : out->rows) {
      BOOST_TEST(!row.metric.ends_with(".noise_floor"), row.metric);
      BOOST_TEST(!row.extra.contains("noise_floor"), row.metric);
      BOOST_TEST(!row.extra.contains("exceeds_noise_floor"), row.metric);
    }
  BOOST_TEST(off.has_row("roberta", "crows_pairs.metric_score.diff"));
  // A node scoring one sequence per pass re-scores its base with batches of 7.
  const auto batch1 = run_plugin("metric.crows_pairs", quick({{"limit", 20}, {"batch_size", 1}}), {{"models", masked}});
  BOOST_TEST(batch1.row("bert", "crows_pairs.metric_score.noise_floor").extra.at("computation") ==
             json({{"batch_size", 7}, {"threads", 2}}));
}

BOOST_AUTO_TEST_SUITE_END()
