// Token streams, batches and MLM masking.
#include <boost/test/unit_test.hpp>

#include <set>

#include "biaslab/runtime/tokenizers/tokenizer.hpp"
#include "biaslab/runtime/train/corpus.hpp"
#include "biaslab/runtime/train/deterministic_random.hpp"
#include "biaslab/runtime/train/token_data.hpp"
#include "biaslab/runtime/train/tokenizer_builder.hpp"
#include "train/train_test_util.hpp"

namespace train = biaslab::runtime::train;
using namespace biaslab::train_test;

namespace {
train::ObjectiveTokens causal_tokens(std::int64_t vocab) {
  train::ObjectiveTokens t;
  t.causal = true;
  t.vocab_size = vocab;
  t.separator = 0;
  return t;
}
}  // namespace

BOOST_AUTO_TEST_SUITE(token_data)

BOOST_AUTO_TEST_CASE(deterministic_random_is_platform_independent) {
  // std::mt19937_64 is specified exactly: its 10000th output from the default seed is fixed by
  // the C++ standard ([rand.predef]).
  std::mt19937_64 standard;
  for (int i = 0; i < 9999; ++i) standard();
  BOOST_CHECK_EQUAL(standard(), 9981545732273789042ULL);
  // uniform_below is unbiased and in range; shuffle is a permutation.
  auto rng = train::make_generator(1, 2, 3);
  std::vector<int> counts(3);
  for (int i = 0; i < 30000; ++i) ++counts[train::uniform_below(rng, 3)];
  for (int c : counts) BOOST_CHECK(c > 9600 && c < 10400);
  std::vector<int> v(100);
  std::iota(v.begin(), v.end(), 0);
  train::shuffle_in_place(v, rng);
  BOOST_CHECK_EQUAL(std::set<int>(v.begin(), v.end()).size(), 100u);
  auto a = train::make_generator(5, 1), b = train::make_generator(5, 1), c = train::make_generator(5, 2);
  BOOST_CHECK_EQUAL(a(), b());
  BOOST_CHECK_NE(train::make_generator(5, 1)(), c());
}

BOOST_AUTO_TEST_CASE(causal_stream_puts_the_separator_before_each_document) {
  TempDir tmp;
  train::write_byte_level_tokenizer(tmp.path(), train::TokenizerFlavor::causal);
  const auto tok = biaslab::runtime::load_tokenizer(tmp.path());
  const auto t = train::ObjectiveTokens::from_tokenizer(*tok, true, 258);
  BOOST_CHECK_EQUAL(t.separator, 0);
  const auto stream = train::encode_stream(*tok, {"ab", "c"}, t);
  BOOST_CHECK(stream == (std::vector<std::int32_t>{0, 'a' + 2, 'b' + 2, 0, 'c' + 2}));
  train::write_byte_level_tokenizer(tmp / "m", train::TokenizerFlavor::masked);
  const auto mtok = biaslab::runtime::load_tokenizer(tmp / "m");
  const auto m = train::ObjectiveTokens::from_tokenizer(*mtok, false, 261);
  BOOST_CHECK(train::encode_stream(*mtok, {"ab", "c"}, m) == (std::vector<std::int32_t>{'a' + 5, 'b' + 5, 3, 'c' + 5, 3}));
  // A causal tokenizer has no [MASK]: masked training is refused with the token named.
  BOOST_CHECK_EXCEPTION(train::ObjectiveTokens::from_tokenizer(*tok, false, 258), std::runtime_error,
                        [](const auto& e) { return std::string(e.what()).find("cls") != std::string::npos; });
}

BOOST_AUTO_TEST_CASE(causal_batches_are_shifted_windows_visited_once_per_epoch) {
  std::vector<std::int32_t> stream(101);
  std::iota(stream.begin(), stream.end(), 0);  // token i at position i
  train::BatchSource source(stream, causal_tokens(200), 10, 42);
  BOOST_CHECK_EQUAL(source.windows(), 10);  // (101 - 1) / 10
  std::set<std::int64_t> starts;
  for (std::int64_t step = 0; step < 5; ++step) {  // 5 steps x 2 = one epoch
    const auto b = source.training_batch(step, 2);
    BOOST_CHECK(b.input_ids.sizes() == torch::IntArrayRef({2, 10}));
    for (int r = 0; r < 2; ++r) {
      const auto first = b.input_ids[r][0].item<std::int64_t>();
      BOOST_CHECK_EQUAL(first % 10, 0);
      starts.insert(first);
      BOOST_CHECK(torch::equal(b.input_ids[r], torch::arange(first, first + 10)));
      BOOST_CHECK(torch::equal(b.labels[r], torch::arange(first + 1, first + 11)));
    }
  }
  BOOST_CHECK_EQUAL(starts.size(), 10u);
  // A pure function of (seed, step).
  BOOST_CHECK(torch::equal(source.training_batch(3, 2).input_ids, source.training_batch(3, 2).input_ids));
  train::BatchSource same(stream, causal_tokens(200), 10, 42), other(stream, causal_tokens(200), 10, 43);
  BOOST_CHECK(torch::equal(same.training_batch(7, 4).input_ids, source.training_batch(7, 4).input_ids));
  bool differs = false;
  for (int s = 0; s < 5 && !differs; ++s) {
    differs = !torch::equal(other.training_batch(s, 2).input_ids, source.training_batch(s, 2).input_ids);
  }
  BOOST_CHECK(differs);
  // Evaluation batches walk the windows in order.
  const auto e = source.evaluation_batch(4, 2);
  BOOST_REQUIRE(e.has_value());
  BOOST_CHECK_EQUAL(e->input_ids[0][0].item<std::int64_t>(), 80);
  BOOST_CHECK(!source.evaluation_batch(5, 2).has_value());
  BOOST_CHECK_THROW(train::BatchSource(std::vector<std::int32_t>(10, 1), causal_tokens(5), 10, 0), std::runtime_error);
}

BOOST_AUTO_TEST_CASE(mlm_masking_follows_the_80_10_10_rule) {
  train::ObjectiveTokens t;
  t.causal = false;
  t.vocab_size = 1000;
  t.pad = 0;
  t.cls = 2;
  t.separator = 3;
  t.mask = 4;
  std::vector<std::int32_t> stream;
  for (int i = 0; i < 200000; ++i) stream.push_back(i % 97 == 0 ? 3 : 100 + i % 800);
  train::BatchSource source(stream, t, 66, 9, 0.15);
  BOOST_CHECK_EQUAL(source.windows(), 200000 / 64);
  std::int64_t eligible = 0, chosen = 0, masked = 0, kept = 0, replaced = 0;
  for (std::int64_t step = 0; step < 40; ++step) {
    const auto b = source.training_batch(step, 32);
    BOOST_CHECK(torch::all(b.input_ids.select(1, 0).eq(2)).item<bool>());
    BOOST_CHECK(torch::all(b.input_ids.select(1, 65).eq(3)).item<bool>());
    auto ids = b.input_ids.accessor<std::int64_t, 2>();
    auto labels = b.labels.accessor<std::int64_t, 2>();
    for (int r = 0; r < 32; ++r) {
      for (int c = 1; c < 65; ++c) {
        const auto label = labels[r][c];
        if (label == train::kIgnoreLabel) {
          BOOST_CHECK_NE(ids[r][c], 4);
          if (ids[r][c] != 3) ++eligible;
          continue;
        }
        ++eligible;
        ++chosen;
        BOOST_CHECK_NE(label, 3);  // separators are never predicted
        if (ids[r][c] == 4) {
          ++masked;
        } else if (ids[r][c] == label) {
          ++kept;
        } else {
          ++replaced;
        }
      }
    }
  }
  const double rate = static_cast<double>(chosen) / static_cast<double>(eligible);
  BOOST_TEST_MESSAGE("MLM: " << chosen << " of " << eligible << " chosen; " << masked << " masked, " << replaced
                             << " random, " << kept << " kept");
  // 81k eligible positions: the binomial standard error of 0.15 is 0.0013.
  BOOST_CHECK_CLOSE(rate, 0.15, 3.0);
  BOOST_CHECK_CLOSE(static_cast<double>(masked) / chosen, 0.8, 2.5);
  // Random replacements that hit the original id count as kept (0.1% of the time here).
  BOOST_CHECK_CLOSE(static_cast<double>(replaced) / chosen, 0.1, 8.0);
  BOOST_CHECK_CLOSE(static_cast<double>(kept) / chosen, 0.1, 8.0);
  // Masks are a function of (seed, step).
  BOOST_CHECK(torch::equal(source.training_batch(5, 8).input_ids, source.training_batch(5, 8).input_ids));
}

BOOST_AUTO_TEST_CASE(corpus_reader_reads_splits_and_names_bad_lines) {
  TempDir tmp;
  write_file(tmp / "c" / "artifact.json",
             R"({"splits": {"train": {"files": ["a.jsonl", "b.jsonl"]}, "validation": {"files": []}}})");
  write_file(tmp / "c" / "a.jsonl", "{\"text\": \"one\"}\n\n{\"text\": \"two\"}\n");
  write_file(tmp / "c" / "b.jsonl", "{\"text\": \"three\"}\n");
  train::CorpusReader r(tmp / "c");
  BOOST_CHECK(r.documents("train") == (std::vector<std::string>{"one", "two", "three"}));
  BOOST_CHECK(!r.has_split("validation"));
  write_file(tmp / "c" / "b.jsonl", "{\"text\": 3}\n");
  BOOST_CHECK_EXCEPTION(r.documents("train"), std::runtime_error,
                        [](const auto& e) { return std::string(e.what()).find("b.jsonl:1") != std::string::npos; });
  write_file(tmp / "d" / "artifact.json", R"({"splits": {"train": {"files": ["../c/a.jsonl"]}}})");
  BOOST_CHECK_THROW(train::CorpusReader(tmp / "d").documents("train"), std::runtime_error);
  // Without artifact.json: <split>.jsonl.
  write_corpus(tmp / "e", {"x", "y"}, {"z"});
  BOOST_CHECK_EQUAL(train::CorpusReader(tmp / "e").documents("validation").size(), 1u);
}

BOOST_AUTO_TEST_SUITE_END()
