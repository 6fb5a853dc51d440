// Dynamic int8 scoring must equal the seed study's computation -- torch quantize_dynamic with one
// sentence per forward pass (bias-bench) -- whatever the batching, and must not depend on batch
// size, padding or thread count (ActivationRange in ops/dynamic_int8_linear.hpp).
// Models: small random GPT-NeoX and BERT written by reference/quantize_dynamic_scoring.py, which
// also computes the reference with /usr/bin/python3's torch (same libtorch version and engine).
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "biaslab/runtime/model.hpp"
#include "biaslab/runtime/ops/dynamic_int8_linear.hpp"
#include "biaslab/runtime/row_groups.hpp"
#include "biaslab/runtime/scoring.hpp"
#include "test_util.hpp"

namespace bt = biaslab::test;
namespace rt = biaslab::runtime;
namespace ops = biaslab::runtime::ops;
using nlohmann::json;
using Sequences = std::vector<std::vector<std::int64_t>>;

namespace {

constexpr std::int64_t kVocab = 512;  // of the reference script's models

// The model folders, written once per test process.
const std::filesystem::path& reference_model(const std::string& kind) {
  static std::map<std::string, std::filesystem::path> made;
  auto it = made.find(kind);
  if (it != made.end()) return it->second;
  const auto dir = bt::make_temp_dir("int8_scoring_" + kind) / kind;
  bt::run_reference_script("quantize_dynamic_scoring.py", {"make", kind, dir.string(), kind == "bert" ? "2" : "1"});
  return made.emplace(kind, dir).first->second;
}

// Every linear layer, the head included, as quantize_dynamic(model, {nn.Linear}) converts them.
std::unique_ptr<rt::LanguageModel> load_int8(const std::string& kind, ops::ActivationRange range,
                                             const std::string& engine = "onednn") {
  auto model = rt::load_model(reference_model(kind));
  ops::DynamicInt8Options options;
  options.activation_range = range;
  options.engine = engine;
  for (auto* slot : model->linear_layers(/*include_output_head=*/true)) {
    const auto& k = *slot->kernel();
    slot->set_kernel(ops::DynamicInt8Linear::quantize(k.weight(), k.bias(), options));
  }
  return model;
}

// Sentences of 1..24 tokens (ids 1..V-1), some of equal length, so batches mix lengths and padding.
Sequences random_sequences(std::size_t n, std::uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<std::int64_t> token(1, kVocab - 1), length(1, 24);
  Sequences out(n);
  for (auto& s : out) {
    s.resize(static_cast<std::size_t>(length(gen)));
    for (auto& t : s) t = token(gen);
  }
  return out;
}

// bias-bench's causal terms: log p(t0) from the separate [bos] pass, then log p(t_i | t_<i).
std::vector<std::vector<double>> causal_terms(const rt::LanguageModel& model, const Sequences& sentences,
                                              std::int64_t batch_size) {
  rt::ScoringOptions options;
  options.batch_size = batch_size;
  const auto bos = rt::next_token_logprobs(model, {{0}}, options);
  const auto scored = rt::score_causal(model, sentences, {}, options);
  std::vector<std::vector<double>> out(sentences.size());
  for (std::size_t i = 0; i < sentences.size(); ++i) {
    out[i].push_back(bos[0][sentences[i][0]].item<double>());
    for (float lp : scored[i].logprobs) out[i].push_back(lp);
  }
  return out;
}

// One masked position per query, as bias-bench's masked CrowS / Nangia's pseudo-log-likelihood.
std::vector<rt::MaskedQuery> masked_queries(const Sequences& sentences, std::int64_t mask_id) {
  std::vector<rt::MaskedQuery> queries;
  for (const auto& s : sentences) {
    for (std::size_t p = 0; p < s.size(); p += 3) {
      rt::MaskedQuery q{s, {static_cast<std::int64_t>(p)}, {s[p]}};
      q.input_ids[p] = mask_id;
      queries.push_back(std::move(q));
    }
  }
  return queries;
}

std::vector<std::vector<double>> masked_terms(const rt::LanguageModel& model, const std::vector<rt::MaskedQuery>& queries,
                                              std::int64_t batch_size) {
  rt::ScoringOptions options;
  options.batch_size = batch_size;
  std::vector<std::vector<double>> out;
  for (const auto& v : rt::masked_logprobs(model, queries, options)) out.emplace_back(v.begin(), v.end());
  return out;
}

std::vector<std::vector<double>> pooled(const rt::LanguageModel& model, const Sequences& sentences, std::int64_t batch_size) {
  rt::ScoringOptions options;
  options.batch_size = batch_size;
  const auto h = rt::mean_pooled_hidden_states(model, sentences, options).to(torch::kDouble).contiguous();
  std::vector<std::vector<double>> out;
  for (std::int64_t i = 0; i < h.size(0); ++i) out.emplace_back(h[i].data_ptr<double>(), h[i].data_ptr<double>() + h.size(1));
  return out;
}

struct Difference {
  double max_abs = 0.0;
  std::size_t items_differing = 0;  // items with any value differing by more than `tolerance`
};

Difference compare(const std::vector<std::vector<double>>& a, const std::vector<std::vector<double>>& b,
                   double tolerance) {
  BOOST_REQUIRE_EQUAL(a.size(), b.size());
  Difference d;
  for (std::size_t i = 0; i < a.size(); ++i) {
    BOOST_REQUIRE_EQUAL(a[i].size(), b[i].size());
    bool differs = false;
    for (std::size_t k = 0; k < a[i].size(); ++k) {
      const double diff = std::abs(a[i][k] - b[i][k]);
      d.max_abs = std::max(d.max_abs, diff);
      differs = differs || diff > tolerance;
    }
    d.items_differing += differs ? 1 : 0;
  }
  return d;
}

json reference_scores(const std::string& kind, const json& request) {
  const auto dir = bt::make_temp_dir("int8_scoring_request");
  std::ofstream(dir / "request.json") << request.dump();
  bt::run_reference_script("quantize_dynamic_scoring.py",
                           {"score", reference_model(kind).string(), (dir / "request.json").string(), (dir / "out.json").string()});
  std::ifstream in(dir / "out.json");
  return json::parse(in);
}

std::vector<std::vector<double>> as_rows(const json& j) { return j.get<std::vector<std::vector<double>>>(); }

json queries_json(const std::vector<rt::MaskedQuery>& queries) {
  json out = json::array();
  for (const auto& q : queries) out.push_back({{"input_ids", q.input_ids}, {"positions", q.positions}, {"targets", q.targets}});
  return out;
}

// Per-example log-domain agreement required of batch-invariant modes (float rounding only).
constexpr double kInvariant = 1e-6;

class ThreadCount {
 public:
  explicit ThreadCount(int n) : previous_(torch::get_num_threads()) { torch::set_num_threads(n); }
  ~ThreadCount() { torch::set_num_threads(previous_); }

 private:
  int previous_;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(int8_scoring)

// The seed study's numbers: per_sequence ranges, batched, equal quantize_dynamic run one sentence
// per forward pass -- causal (bias-bench CrowS / StereoSet terms, BOS pass included) and masked.
BOOST_AUTO_TEST_CASE(per_sequence_equals_quantize_dynamic_one_sentence_per_pass) {
  const auto sentences = random_sequences(60, 7);
  {
    const auto model = load_int8("gpt_neox", ops::ActivationRange::per_sequence);
    const auto reference = as_rows(reference_scores("gpt_neox", {{"causal", sentences}, {"bos", 0}})["causal"]);
    const auto d = compare(causal_terms(*model, sentences, 32), reference, 1e-5);
    BOOST_TEST_MESSAGE("gpt_neox causal: max |diff| " << d.max_abs << ", sentences off by > 1e-5: " << d.items_differing);
    BOOST_TEST(d.max_abs <= 1e-4);
    BOOST_TEST(d.items_differing <= 1u);
    // Today's per-call range over the padded batch is visibly different (the defect this fixes).
    const auto batch = load_int8("gpt_neox", ops::ActivationRange::per_batch);
    BOOST_TEST(compare(causal_terms(*batch, sentences, 32), reference, 1e-5).items_differing > 10u);
  }
  {
    const auto model = load_int8("bert", ops::ActivationRange::per_sequence);
    const auto queries = masked_queries(sentences, /*mask_id=*/3);
    const auto reference = as_rows(reference_scores("bert", {{"masked", queries_json(queries)}})["masked"]);
    const auto d = compare(masked_terms(*model, queries, 32), reference, 1e-5);
    BOOST_TEST_MESSAGE("bert masked: max |diff| " << d.max_abs << ", queries off by > 1e-5: " << d.items_differing);
    BOOST_TEST(d.max_abs <= 1e-4);
    BOOST_TEST(d.items_differing <= 1u);
    // SEAT's sentence embeddings (mean of the last hidden state).
    const auto embeddings = as_rows(reference_scores("bert", {{"pooled", sentences}})["pooled"]);
    const auto e = compare(pooled(*model, sentences, 32), embeddings, 1e-5);
    BOOST_TEST_MESSAGE("bert pooled: max |diff| " << e.max_abs << ", sentences off by > 1e-5: " << e.items_differing);
    BOOST_TEST(e.max_abs <= 1e-4);
  }
}

// Batch size 1, 7, 32, 64 and 1 vs 2 threads give the same per-example values, for every scoring
// entry point the metrics use, in both batch-invariant modes.
BOOST_AUTO_TEST_CASE(per_sequence_and_per_token_are_batch_and_thread_invariant) {
  const auto sentences = random_sequences(70, 11);
  for (auto range : {ops::ActivationRange::per_sequence, ops::ActivationRange::per_token}) {
    BOOST_TEST_CONTEXT("activation_range " << ops::to_string(range)) {
      const auto neox = load_int8("gpt_neox", range);
      const auto bert = load_int8("bert", range);
      const auto queries = masked_queries(sentences, 3);
      std::vector<std::vector<double>> causal1, masked1, pooled1;
      {
        ThreadCount one(1);
        causal1 = causal_terms(*neox, sentences, 1);
        masked1 = masked_terms(*bert, queries, 1);
        pooled1 = pooled(*bert, sentences, 1);
      }
      ThreadCount two(2);
      for (std::int64_t batch : {1, 7, 32, 64}) {
        BOOST_TEST_CONTEXT("batch_size " << batch << ", 2 threads") {
          BOOST_TEST(compare(causal_terms(*neox, sentences, batch), causal1, kInvariant).max_abs <= kInvariant);
          BOOST_TEST(compare(masked_terms(*bert, queries, batch), masked1, kInvariant).max_abs <= kInvariant);
          BOOST_TEST(compare(pooled(*bert, sentences, batch), pooled1, kInvariant).max_abs <= kInvariant);
        }
      }
    }
  }
}

// per_batch is kept for comparison: its results do depend on the batch (what the modes above fix).
BOOST_AUTO_TEST_CASE(per_batch_depends_on_batch_size) {
  const auto sentences = random_sequences(40, 13);
  const auto neox = load_int8("gpt_neox", ops::ActivationRange::per_batch);
  const auto d = compare(causal_terms(*neox, sentences, 1), causal_terms(*neox, sentences, 32), kInvariant);
  BOOST_TEST_MESSAGE("per_batch, batch 1 vs 32: max |diff| " << d.max_abs << ", sentences differing " << d.items_differing);
  BOOST_TEST(d.items_differing > 10u);
}

// per_token's activation parameters are torch's ChooseQuantizationParams, row by row.
BOOST_AUTO_TEST_CASE(per_row_qparams_match_torch) {
  torch::manual_seed(5);
  auto x = torch::randn({64, 40}) * torch::rand({64, 1}) * 10;
  x[0].zero_();                        // degenerate range: scale 0.1
  x[1] = torch::rand({40}) * 1e-4;     // tiny positive range: SMALL_SCALE_THRESHOLD path, min 0
  x[2] = -torch::rand({40}) * 1e-4;    // tiny negative range: max 0
  x[3] = torch::randn({40}) * 1e-5;    // tiny range across 0: amplified
  x[4] = torch::rand({40}) + 3;        // all positive: range widened to include 0
  for (bool reduce_range : {false, true}) {
    const auto [scales, zero_points] = ops::per_row_activation_qparams(x, reduce_range);
    for (std::int64_t r = 0; r < x.size(0); ++r) {
      const auto [scale, zero_point] = at::_choose_qparams_per_tensor(x[r], reduce_range);
      BOOST_TEST_CONTEXT("row " << r << ", reduce_range " << reduce_range) {
        BOOST_TEST(scales[r].item<float>() == static_cast<float>(scale));
        BOOST_TEST(zero_points[r].item<std::int64_t>() == zero_point);
      }
    }
  }
}

// per_token computes each row as if it were alone -- and what torch's kernel computes for a
// one-row input (same quantized activations, exact int32 accumulation).
BOOST_AUTO_TEST_CASE(per_token_rows_equal_single_row_kernel_calls) {
  torch::manual_seed(6);
  const auto w = torch::randn({48, 1100}) * 0.05;  // in > 512: several exact float32 chunks
  const auto b = torch::randn({48});
  auto x = torch::randn({9, 1100});
  x[2] *= 40;  // an outlier row must not change the others
  ops::DynamicInt8Options token, single;
  token.activation_range = ops::ActivationRange::per_token;
  single.activation_range = ops::ActivationRange::per_batch;
  for (auto scheme : {ops::Int8WeightScheme::per_tensor, ops::Int8WeightScheme::per_channel}) {
    token.scheme = single.scheme = scheme;
    const auto per_token = ops::DynamicInt8Linear::quantize(w, b, token);
    const auto per_call = ops::DynamicInt8Linear::quantize(w, b, single);
    const auto y = per_token->forward(x);
    for (std::int64_t r = 0; r < x.size(0); ++r) {
      BOOST_TEST_CONTEXT("row " << r << ", scheme " << ops::to_string(scheme)) {
        BOOST_TEST(torch::equal(per_token->forward(x.narrow(0, r, 1)), y.narrow(0, r, 1)));
        BOOST_TEST(bt::max_abs_diff(per_call->forward(x.narrow(0, r, 1)), y.narrow(0, r, 1)) <= 1e-4);
      }
    }
  }
}

// Outside a forward pass a per_sequence layer treats its input as one sequence; inside, the
// groups decide, and a mismatch between the groups and the input is a clear error.
BOOST_AUTO_TEST_CASE(per_sequence_layer_follows_row_groups) {
  torch::manual_seed(8);
  const auto w = torch::randn({16, 32});
  ops::DynamicInt8Options seq, batch;
  batch.activation_range = ops::ActivationRange::per_batch;
  const auto per_sequence = ops::DynamicInt8Linear::quantize(w, std::nullopt, seq);
  const auto per_batch = ops::DynamicInt8Linear::quantize(w, std::nullopt, batch);
  auto x = torch::randn({2, 5, 32});
  x[1] *= 30;
  BOOST_TEST(torch::equal(per_sequence->forward(x), per_batch->forward(x)));
  auto mask = torch::tensor({1, 1, 1, 0, 0, 1, 1, 1, 1, 1}, torch::kLong).view({2, 5});
  rt::ScopedRowGroups groups(rt::RowGroups::from_attention_mask(mask));
  const auto y = per_sequence->forward(x);
  BOOST_TEST(torch::equal(y[0].narrow(0, 0, 3), per_batch->forward(x[0].narrow(0, 0, 3))));
  BOOST_TEST(torch::equal(y[1], per_batch->forward(x[1])));
  BOOST_CHECK_THROW(per_sequence->forward(torch::randn({3, 32})), std::logic_error);
}

// Saved layers keep their mode; layers saved before the option existed load as per_batch.
BOOST_AUTO_TEST_CASE(activation_range_round_trips_through_serialization) {
  const auto w = torch::randn({8, 16});
  ops::DynamicInt8Options token;
  token.activation_range = ops::ActivationRange::per_token;
  std::map<std::string, torch::Tensor> tensors;
  json meta;
  ops::DynamicInt8Linear::quantize(w, std::nullopt, token)->serialize(tensors, meta);
  BOOST_TEST(meta.at("activation_range") == "per_token");
  auto loaded = std::dynamic_pointer_cast<ops::DynamicInt8Linear>(ops::DynamicInt8Linear::load(tensors, meta));
  BOOST_TEST((loaded->options().activation_range == ops::ActivationRange::per_token));
  meta.erase("activation_range");
  loaded = std::dynamic_pointer_cast<ops::DynamicInt8Linear>(ops::DynamicInt8Linear::load(tensors, meta));
  BOOST_TEST((loaded->options().activation_range == ops::ActivationRange::per_batch));
  BOOST_CHECK_THROW(ops::DynamicInt8Options::from_json({{"activation_range", "per_row"}}), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
