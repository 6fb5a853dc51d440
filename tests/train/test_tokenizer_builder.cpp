// Tokenizers written by the training code: read back by the runtime's HF tokenizer, with ids and
// merges computed by hand.
#include <boost/test/unit_test.hpp>

#include "biaslab/runtime/tokenizers/tokenizer.hpp"
#include "biaslab/runtime/train/tokenizer_builder.hpp"
#include "train/train_test_util.hpp"

namespace train = biaslab::runtime::train;
using namespace biaslab::train_test;
using Ids = std::vector<std::int64_t>;

BOOST_AUTO_TEST_SUITE(tokenizer_builder)

BOOST_AUTO_TEST_CASE(byte_level_symbols_are_gpt2s) {
  BOOST_CHECK_EQUAL(train::byte_level_symbol(' '), "\xC4\xA0");   // U+0120 'Ġ'
  BOOST_CHECK_EQUAL(train::byte_level_symbol('\n'), "\xC4\x8A");  // U+010A 'Ċ'
  BOOST_CHECK_EQUAL(train::byte_level_symbol('A'), "A");
  BOOST_CHECK_EQUAL(train::byte_level_symbol(0xE9), "\xC3\xA9");  // printable Latin-1 stays: 'é'
  BOOST_CHECK_EQUAL(train::byte_level_symbol(0xAD), "\xC5\x83");  // soft hyphen is not printable: U+0143
}

BOOST_AUTO_TEST_CASE(byte_tokenizer_maps_every_byte_to_one_id) {
  TempDir tmp;
  train::write_byte_level_tokenizer(tmp.path(), train::TokenizerFlavor::causal);
  const auto tok = biaslab::runtime::load_tokenizer(tmp.path());
  BOOST_CHECK_EQUAL(tok->vocab_size(), 258u);
  BOOST_CHECK_EQUAL(*tok->eos_id(), 0);
  BOOST_CHECK_EQUAL(*tok->bos_id(), 0);
  BOOST_CHECK_EQUAL(*tok->pad_id(), 1);
  // id = byte + 2 (two special tokens first).
  BOOST_CHECK(tok->encode("Hi there", false).ids == (Ids{'H' + 2, 'i' + 2, ' ' + 2, 't' + 2, 'h' + 2, 'e' + 2, 'r' + 2, 'e' + 2}));
  const std::string utf8 = "h\xC3\xA9llo \xE6\x97\xA5\n";  // "héllo 日\n"
  const auto enc = tok->encode(utf8, false);
  BOOST_CHECK_EQUAL(enc.ids.size(), utf8.size());
  BOOST_CHECK_EQUAL(enc.ids[1], 0xC3 + 2);
  BOOST_CHECK_EQUAL(tok->decode(enc.ids), utf8);
  // Special tokens written in the text are recognised, as HF's added tokens.
  BOOST_CHECK(tok->encode("a<|endoftext|>b", false).ids == (Ids{'a' + 2, 0, 'b' + 2}));
}

BOOST_AUTO_TEST_CASE(masked_flavour_wraps_in_cls_and_sep) {
  TempDir tmp;
  train::write_byte_level_tokenizer(tmp.path(), train::TokenizerFlavor::masked);
  const auto tok = biaslab::runtime::load_tokenizer(tmp.path());
  BOOST_CHECK_EQUAL(tok->vocab_size(), 261u);
  BOOST_CHECK_EQUAL(*tok->pad_id(), 0);
  BOOST_CHECK_EQUAL(*tok->unk_id(), 1);
  BOOST_CHECK_EQUAL(*tok->cls_id(), 2);
  BOOST_CHECK_EQUAL(*tok->sep_id(), 3);
  BOOST_CHECK_EQUAL(*tok->mask_id(), 4);
  BOOST_CHECK(tok->encode("ok", true).ids == (Ids{2, 'o' + 5, 'k' + 5, 3}));
  BOOST_CHECK(tok->encode("a [MASK]", false).ids == (Ids{'a' + 5, ' ' + 5, 4}));
}

BOOST_AUTO_TEST_CASE(bpe_merges_follow_pair_counts) {
  // Pre-tokens of "ab ab ab abc": "ab", " ab" x2, " abc". Pair counts: (a,b) 4, (Ġ,a) 3, (b,c) 1.
  // Merge 1: a+b (4). Then (Ġ,ab) 3, (ab,c) 1. Merge 2: Ġ+ab (3). Then (Ġab,c) 1 < min_frequency 2.
  const auto merges = train::train_byte_level_bpe({"ab ab ab abc"}, train::TokenizerFlavor::causal, {.vocab_size = 1000});
  BOOST_REQUIRE_EQUAL(merges.size(), 2u);
  BOOST_CHECK_EQUAL(merges[0].left, "a");
  BOOST_CHECK_EQUAL(merges[0].right, "b");
  BOOST_CHECK_EQUAL(merges[1].left, "\xC4\xA0");
  BOOST_CHECK_EQUAL(merges[1].right, "ab");
  TempDir tmp;
  train::write_byte_level_tokenizer(tmp.path(), train::TokenizerFlavor::causal, merges);
  const auto tok = biaslab::runtime::load_tokenizer(tmp.path());
  BOOST_CHECK_EQUAL(tok->vocab_size(), 260u);  // 2 + 256 + "ab" (258) + "Ġab" (259)
  BOOST_CHECK(tok->encode("ab abc", false).ids == (Ids{258, 259, 'c' + 2}));
  BOOST_CHECK_EQUAL(tok->decode({258, 259, 'c' + 2}), "ab abc");
}

BOOST_AUTO_TEST_CASE(bpe_ties_go_to_the_smallest_pair_and_vocab_size_is_respected) {
  // "xy zw": pairs (x,y), (Ġ,z), (z,w) once each; with min_frequency 1 the smallest ids win:
  // Ġ is byte 0x20, so (Ġ,z) = (32, 122) < (120, 121) < (122, 119).
  train::BpeTrainerOptions options;
  options.vocab_size = 259;  // room for exactly one merge
  options.min_frequency = 1;
  const auto one = train::train_byte_level_bpe({"xy zw"}, train::TokenizerFlavor::causal, options);
  BOOST_REQUIRE_EQUAL(one.size(), 1u);
  BOOST_CHECK_EQUAL(one[0].left + "|" + one[0].right, "\xC4\xA0|z");
  options.vocab_size = 1000;
  const auto all = train::train_byte_level_bpe({"xy zw"}, train::TokenizerFlavor::causal, options);
  BOOST_REQUIRE_EQUAL(all.size(), 3u);
  BOOST_CHECK_EQUAL(all[1].left + "|" + all[1].right, "x|y");
  BOOST_CHECK_EQUAL(all[2].left + "|" + all[2].right, "\xC4\xA0z|w");
  BOOST_CHECK_THROW(train::train_byte_level_bpe({"a"}, train::TokenizerFlavor::masked, {.vocab_size = 100}),
                    std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(bpe_on_english_text_compresses_and_round_trips) {
  std::vector<std::string> texts;
  for (int i = 0; i < 200; ++i) {
    texts.push_back("The nurse said that she was tired. The engineer said that he would be late. " + std::to_string(i));
  }
  const auto merges = train::train_byte_level_bpe(texts, train::TokenizerFlavor::causal, {.vocab_size = 320});
  // The texts hold few distinct words: merging stops once each is one token (61 merges), below
  // the 62 the vocabulary would allow.
  BOOST_CHECK_EQUAL(merges.size(), 61u);
  TempDir tmp;
  train::write_byte_level_tokenizer(tmp.path(), train::TokenizerFlavor::causal, merges);
  const auto tok = biaslab::runtime::load_tokenizer(tmp.path());
  const std::string s = "The nurse said that she was tired.";
  const auto ids = tok->encode(s, false).ids;
  BOOST_TEST_MESSAGE("'" << s << "' -> " << ids.size() << " tokens");
  BOOST_CHECK_EQUAL(ids.size(), 8u);  // The, Ġnurse, Ġsaid, Ġthat, Ġshe, Ġwas, Ġtired, .
  BOOST_CHECK_EQUAL(tok->decode(ids), s);
  // Deterministic.
  BOOST_CHECK(train::train_byte_level_bpe(texts, train::TokenizerFlavor::causal, {.vocab_size = 320}).size() == merges.size());
}

BOOST_AUTO_TEST_SUITE_END()
