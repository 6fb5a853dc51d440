// Components checked against values published in the HF tokenizers documentation / docstrings
// (noted per case; Python reports char offsets, converted here to the byte offsets we return) and
// against hand-computed HF semantics.
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>

#include "biaslab/runtime/tokenizers/tokenizer.hpp"
#include "runtime/tokenizers/hf_tokenizer.hpp"
#include "runtime/tokenizers/normalizers.hpp"
#include "runtime/tokenizers/pre_tokenizers.hpp"
#include "runtime/tokenizers/regex.hpp"
#include "runtime/tokenizers/unicode.hpp"
#include "runtime/tokenizers/unicode_normalization.hpp"
#include "test_util.hpp"

namespace tk = biaslab::runtime::tokenizers;
using biaslab::runtime::Encoding;
using biaslab::runtime::load_tokenizer;
using Json = nlohmann::json;
using OffsetList = std::vector<std::pair<std::size_t, std::size_t>>;

namespace {

std::filesystem::path data(const std::string& relative) { return biaslab::test::tokenizer_data_dir() / relative; }

// Pieces (normalized text, original byte offsets) after a pre-tokenizer, like HF pre_tokenize_str.
std::vector<std::pair<std::string, std::pair<std::size_t, std::size_t>>> pre_tokenize(const Json& config,
                                                                                      const std::string& text) {
  const auto pre_tokenizer = tk::pre_tokenizer_from_json(config, "test");
  tk::PreTokenizedString pretokenized{tk::NormalizedString(text)};
  pre_tokenizer->pre_tokenize(pretokenized);
  std::vector<std::pair<std::string, std::pair<std::size_t, std::size_t>>> out;
  for (const auto& split : pretokenized.splits()) out.emplace_back(split.normalized.get(), split.normalized.offsets_original());
  return out;
}

std::vector<std::string> piece_texts(const Json& config, const std::string& text) {
  std::vector<std::string> out;
  for (const auto& [piece, offsets] : pre_tokenize(config, text)) out.push_back(piece);
  return out;
}

std::string normalize(const Json& config, const std::string& text) {
  tk::NormalizedString s(text);
  tk::normalizer_from_json(config, "test")->normalize(s);
  return s.get();
}

std::u32string nfc(std::u32string_view text, tk::NormalizationForm form = tk::NormalizationForm::NFC) {
  std::u32string out;
  for (const auto& [c, change] : tk::normalize_with_changes(text, form)) out.push_back(c);
  return out;
}

using Strings = std::vector<std::string>;

}  // namespace

BOOST_AUTO_TEST_SUITE(unicode_tables)

BOOST_AUTO_TEST_CASE(normalization_forms) {
  BOOST_CHECK(nfc(U"e\u0301") == U"\u00E9");
  BOOST_CHECK(nfc(U"\u00E9", tk::NormalizationForm::NFD) == U"e\u0301");
  BOOST_CHECK(nfc(U"\u1100\u1161\u11A8") == U"\uAC01");                               // Hangul LVT
  BOOST_CHECK(nfc(U"\uAC01", tk::NormalizationForm::NFD) == U"\u1100\u1161\u11A8");
  BOOST_CHECK(nfc(U"\uFB01", tk::NormalizationForm::NFKC) == U"fi");                  // compatibility
  BOOST_CHECK(nfc(U"\uFB01") == U"\uFB01");
  BOOST_CHECK(nfc(U"a\u0323\u0302", tk::NormalizationForm::NFD) == U"a\u0323\u0302"); // ccc 220 < 230
  BOOST_CHECK(nfc(U"a\u0302\u0323", tk::NormalizationForm::NFD) == U"a\u0323\u0302"); // reordered
  BOOST_CHECK(nfc(U"a\u0302\u0323") == U"\u1EAD");
  // HF's crate has UCD 9.0: U+0EBA (Unicode 12, ccc 9) is unknown, so no reordering (README).
  BOOST_CHECK(nfc(U"\u0EB9\u0EBA") == U"\u0EB9\u0EBA");
}

BOOST_AUTO_TEST_CASE(character_properties) {
  namespace u = tk::unicode;
  BOOST_CHECK(u::is_whitespace(0x3000) && u::is_whitespace(0x85) && !u::is_whitespace(0x180E) && !u::is_whitespace(0x200B));
  BOOST_CHECK(u::lowercase_of(0x03A3) == U"\u03C3");         // no final-sigma context (README)
  BOOST_CHECK(u::lowercase_of(0x0130) == U"i\u0307");        // full mapping
  BOOST_CHECK(u::lowercase_of(0x1E9E) == U"\u00DF");
  // BERT categories from UCD 8.0 (README): U+166D still punctuation, U+2E43/U+0C84 not yet.
  BOOST_CHECK(u::hf_is_punctuation(0x166D));
  BOOST_CHECK(!u::hf_is_punctuation(0x2E43) && !u::hf_is_punctuation(0x0C84) && !u::hf_is_punctuation(0x1B7D));
  BOOST_CHECK(u::hf_is_punctuation(0x2E42) && u::hf_is_punctuation(0x00BF));
  BOOST_CHECK(u::hf_is_mark_nonspacing(0x0301) && !u::hf_is_mark_nonspacing(0x09FE) && !u::hf_is_mark_nonspacing(0x0C04));
  BOOST_CHECK(u::hf_is_other(0x00AD) && u::hf_is_other(0xE000) && u::hf_is_other(0x10FFFD) && !u::hf_is_other(0x0378));
  BOOST_CHECK(u::is_numeric(0x00B2) && u::is_numeric(0x2163) && !u::is_numeric('a'));
  BOOST_CHECK(u::is_word_char(0x200D) && u::is_word_char(0x0301) && !u::is_word_char('-'));
}

BOOST_AUTO_TEST_CASE(utf8_validation) {
  namespace u = tk::unicode;
  BOOST_CHECK_EQUAL(u::find_invalid_utf8("h\xC3\xA9llo \xF0\x9F\x98\x81"), std::string_view::npos);
  BOOST_CHECK_EQUAL(u::find_invalid_utf8("ab\xC3"), 2u);            // truncated
  BOOST_CHECK_EQUAL(u::find_invalid_utf8("\xC0\x80"), 0u);          // overlong
  BOOST_CHECK_EQUAL(u::find_invalid_utf8("x\xED\xA0\x80"), 1u);     // surrogate
  BOOST_CHECK_EQUAL(u::find_invalid_utf8("\xF4\x90\x80\x80"), 0u);  // > U+10FFFF
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(regex_translation)

BOOST_AUTO_TEST_CASE(oniguruma_classes_become_unicode_properties) {
  BOOST_CHECK_EQUAL(tk::Regex::translate_oniguruma(R"( ?[^\s\p{L}\p{N}]+|\s+(?!\S))"),
                    R"( ?[^\p{White_Space}\p{L}\p{N}]+|\p{White_Space}+(?!\P{White_Space}))");
  BOOST_CHECK_EQUAL(tk::Regex::translate_oniguruma(R"(\w+|[\w-])"),
                    R"([\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]+|[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}-])");
  BOOST_CHECK_EQUAL(tk::Regex::translate_oniguruma(R"([]\s]\\s\u00e9)"), R"([]\p{White_Space}]\\s\x{00e9})");
  // PCRE2's own \s would match U+180E; the White_Space property does not (as Oniguruma's \s).
  tk::Regex spaces(R"(\s+)");
  const auto matches = spaces.find_all("a\xE1\xA0\x8E b");
  BOOST_REQUIRE_EQUAL(matches.size(), 1u);
  BOOST_CHECK(matches[0] == std::make_pair(std::size_t{4}, std::size_t{5}));
  BOOST_CHECK_THROW(tk::Regex("(unclosed"), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(empty_matches_follow_onig_find_iter) {
  tk::Regex regex("a*");
  const auto matches = regex.find_all("baab");
  // onig: (0,0), then "aa" at (1,3), the empty match at 3 right after it is skipped, then (4,4).
  const std::vector<std::pair<std::size_t, std::size_t>> expected = {{0, 0}, {1, 3}, {4, 4}};
  BOOST_CHECK(matches == expected);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(pre_tokenizers)

// HF docs (SplitDelimiterBehavior): pattern "-" on "the-final--countdown".
BOOST_AUTO_TEST_CASE(split_behaviors) {
  auto split = [](const char* behavior) {
    return piece_texts({{"type", "Split"}, {"pattern", {{"String", "-"}}}, {"behavior", behavior}, {"invert", false}},
                       "the-final--countdown");
  };
  BOOST_CHECK(split("Removed") == (Strings{"the", "final", "countdown"}));
  BOOST_CHECK(split("Isolated") == (Strings{"the", "-", "final", "-", "-", "countdown"}));
  BOOST_CHECK(split("MergedWithPrevious") == (Strings{"the-", "final-", "-", "countdown"}));
  BOOST_CHECK(split("MergedWithNext") == (Strings{"the", "-final", "-", "-countdown"}));
  BOOST_CHECK(split("Contiguous") == (Strings{"the", "-", "final", "--", "countdown"}));
}

// HF docs (pipeline.mdx): ByteLevel(add_prefix_space=False) on a sentence, with offsets.
BOOST_AUTO_TEST_CASE(byte_level) {
  const auto pieces = pre_tokenize({{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}},
                                   "Hello my friend, how is your day going?");
  const std::vector<std::pair<std::string, std::pair<std::size_t, std::size_t>>> expected = {
      {"Hello", {0, 5}}, {"\xC4\xA0my", {5, 8}},    {"\xC4\xA0" "friend", {8, 15}}, {",", {15, 16}},
      {"\xC4\xA0how", {16, 20}}, {"\xC4\xA0is", {20, 23}}, {"\xC4\xA0your", {23, 28}}, {"\xC4\xA0" "day", {28, 32}},
      {"\xC4\xA0going", {32, 38}}, {"?", {38, 39}}};
  BOOST_CHECK(pieces == expected);
  // add_prefix_space: the added space maps to the first char of the text.
  const auto prefixed = pre_tokenize({{"type", "ByteLevel"}, {"add_prefix_space", true}}, "Hi");
  BOOST_REQUIRE_EQUAL(prefixed.size(), 1u);
  BOOST_CHECK_EQUAL(prefixed[0].first, "\xC4\xA0Hi");
  BOOST_CHECK(prefixed[0].second == std::make_pair(std::size_t{0}, std::size_t{2}));
}

// HF docs (pipeline.mdx): BertPreTokenizer, offsets in bytes (the emoji is 4 bytes).
BOOST_AUTO_TEST_CASE(bert) {
  const auto pieces = pre_tokenize({{"type", "BertPreTokenizer"}}, "Hello, y'all! How are you \xF0\x9F\x98\x81 ?");
  const std::vector<std::pair<std::string, std::pair<std::size_t, std::size_t>>> expected = {
      {"Hello", {0, 5}}, {",", {5, 6}},     {"y", {7, 8}},     {"'", {8, 9}},   {"all", {9, 12}},
      {"!", {12, 13}},   {"How", {14, 17}}, {"are", {18, 21}}, {"you", {22, 25}}, {"\xF0\x9F\x98\x81", {26, 30}},
      {"?", {31, 32}}};
  BOOST_CHECK(pieces == expected);
}

// HF docstrings: Whitespace, WhitespaceSplit, Digits, Metaspace, Punctuation, CharDelimiterSplit.
BOOST_AUTO_TEST_CASE(simple_pre_tokenizers) {
  BOOST_CHECK(piece_texts({{"type", "Whitespace"}}, "Hey man!") == (Strings{"Hey", "man", "!"}));
  BOOST_CHECK(piece_texts({{"type", "Whitespace"}}, "caf\xC3\xA9 -- ok\xE2\x80\x8D") ==
              (Strings{"caf\xC3\xA9", "--", "ok\xE2\x80\x8D"}));  // \w includes Join_Control
  BOOST_CHECK(piece_texts({{"type", "WhitespaceSplit"}}, "Hey  man!\xE3\x80\x80x") == (Strings{"Hey", "man!", "x"}));
  BOOST_CHECK(piece_texts({{"type", "Digits"}, {"individual_digits", false}}, "Hello 123 there") ==
              (Strings{"Hello ", "123", " there"}));
  BOOST_CHECK(piece_texts({{"type", "Digits"}, {"individual_digits", true}}, "Hello 123 there") ==
              (Strings{"Hello ", "1", "2", "3", " there"}));
  BOOST_CHECK(piece_texts({{"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"prepend_scheme", "always"}},
                          "Hey friend!") == (Strings{"\xE2\x96\x81Hey", "\xE2\x96\x81" "friend!"}));
  BOOST_CHECK(piece_texts({{"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"prepend_scheme", "never"}},
                          "Hey friend") == (Strings{"Hey", "\xE2\x96\x81" "friend"}));
  BOOST_CHECK(piece_texts({{"type", "Punctuation"}}, "Hey, friend!?") == (Strings{"Hey", ",", " friend", "!", "?"}));
  BOOST_CHECK(piece_texts({{"type", "Punctuation"}, {"behavior", "Contiguous"}}, "Hey, friend!?") ==
              (Strings{"Hey", ",", " friend", "!?"}));
  BOOST_CHECK(piece_texts({{"type", "CharDelimiterSplit"}, {"delimiter", "x"}}, "axbxxc") == (Strings{"a", "b", "c"}));
  BOOST_CHECK(piece_texts({{"type", "FixedLength"}, {"length", 2}}, "abcde") == (Strings{"ab", "cd", "e"}));
  BOOST_CHECK(piece_texts({{"type", "Sequence"},
                           {"pretokenizers", {{{"type", "WhitespaceSplit"}}, {{"type", "Digits"}, {"individual_digits", true}}}}},
                          "a12 b") == (Strings{"a", "1", "2", "b"}));
}

// Llama-3 style Split regex (case-insensitive contractions, \p{N}{1,3}, lookahead).
BOOST_AUTO_TEST_CASE(split_regex) {
  const Json config = {
      {"type", "Split"},
      {"pattern",
       {{"Regex",
         R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}}},
      {"behavior", "Isolated"},
      {"invert", false}};
  BOOST_CHECK(piece_texts(config, "I'LL pay 12345 dollars!\n\n  ok") ==
              (Strings{"I", "'LL", " pay", " ", "123", "45", " dollars", "!\n\n", " ", " ok"}));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(normalizers)

// HF docs (pipeline.mdx): Sequence([NFD(), StripAccents()]) on "Héllò hôw are ü?".
BOOST_AUTO_TEST_CASE(documented_sequence) {
  const Json config = {{"type", "Sequence"}, {"normalizers", {{{"type", "NFD"}}, {{"type", "StripAccents"}}}}};
  BOOST_CHECK_EQUAL(normalize(config, "H\xC3\xA9ll\xC3\xB2 h\xC3\xB4w are \xC3\xBC?"), "Hello how are u?");
}

BOOST_AUTO_TEST_CASE(others) {
  BOOST_CHECK_EQUAL(normalize({{"type", "Lowercase"}}, "\xCE\x91\xCE\xA3."), "\xCE\xB1\xCF\x83.");  // ΑΣ. -> ασ.
  BOOST_CHECK_EQUAL(normalize({{"type", "NFKC"}}, "\xEF\xAC\x81"), "fi");
  BOOST_CHECK_EQUAL(normalize({{"type", "Prepend"}, {"prepend", "\xE2\x96\x81"}}, "Hey"), "\xE2\x96\x81Hey");
  BOOST_CHECK_EQUAL(normalize({{"type", "Prepend"}, {"prepend", "x"}}, ""), "");
  BOOST_CHECK_EQUAL(normalize({{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\xE2\x96\x81"}}, "a b  c"),
                    "a\xE2\x96\x81" "b\xE2\x96\x81\xE2\x96\x81" "c");
  BOOST_CHECK_EQUAL(normalize({{"type", "Replace"}, {"pattern", {{"Regex", "\\s+"}}}, {"content", " "}}, "a \t\n b"), "a b");
  BOOST_CHECK_EQUAL(normalize({{"type", "Strip"}, {"strip_left", true}, {"strip_right", true}}, "  a b \n"), "a b");
  BOOST_CHECK_EQUAL(normalize({{"type", "Nmt"}}, "a\x01" "b\x0C" "c"), "ab c");
  // BERT: control chars removed, whitespace -> ' ', CJK isolated, accents stripped, lowercased.
  const std::string bert_input("\xC3\x89t\xC3\xA9\x00\tA\xE4\xB8\xAD" "B\xC2\xAD", 14);  // "Été\0\tA中B" + soft hyphen
  BOOST_CHECK_EQUAL(normalize({{"type", "BertNormalizer"}, {"clean_text", true}, {"handle_chinese_chars", true},
                               {"strip_accents", nullptr}, {"lowercase", true}},
                              bert_input),
                    "ete a \xE4\xB8\xAD b");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(pipelines)

// Offsets HF reports for the real tokenizers (Python offset_mapping, ASCII so bytes == chars).
BOOST_AUTO_TEST_CASE(real_tokenizer_offsets) {
  const auto gpt2 = load_tokenizer(data("gpt2"));
  Encoding e = gpt2->encode("Hello world", false);
  BOOST_CHECK(e.ids == (std::vector<std::int64_t>{15496, 995}));
  BOOST_CHECK(e.tokens == (Strings{"Hello", "\xC4\xA0world"}));
  BOOST_CHECK(e.offsets == (OffsetList{{0, 5}, {5, 11}}));  // gpt2: trim_offsets false

  const auto neox = load_tokenizer(data("gpt-neox-20b"));
  e = neox->encode("Hello world", false);
  BOOST_CHECK(e.ids == (std::vector<std::int64_t>{12092, 1533}));
  BOOST_CHECK(e.offsets == (OffsetList{{0, 5}, {6, 11}}));  // ByteLevel trim_offsets

  const auto roberta = load_tokenizer(data("roberta-base"));
  e = roberta->encode("Hello world", true);
  BOOST_CHECK(e.ids == (std::vector<std::int64_t>{0, 31414, 232, 2}));
  BOOST_CHECK(e.offsets == (OffsetList{{0, 0}, {0, 5}, {6, 11}, {0, 0}}));
  BOOST_CHECK(e.special_tokens_mask == (std::vector<std::int64_t>{1, 0, 0, 1}));
  BOOST_CHECK(e.tokens == (Strings{"<s>", "Hello", "\xC4\xA0world", "</s>"}));

  const auto bert = load_tokenizer(data("bert-base-uncased"));
  e = bert->encode("Hello, world!", true);
  BOOST_CHECK(e.tokens == (Strings{"[CLS]", "hello", ",", "world", "!", "[SEP]"}));
  BOOST_CHECK(e.offsets == (OffsetList{{0, 0}, {0, 5}, {5, 6}, {7, 12}, {12, 13}, {0, 0}}));
  // HF docs (pipeline.mdx) example, emoji -> [UNK] with byte offsets 26..30.
  e = bert->encode("Hello, y'all! How are you \xF0\x9F\x98\x81 ?", true);
  BOOST_CHECK(e.tokens ==
              (Strings{"[CLS]", "hello", ",", "y", "'", "all", "!", "how", "are", "you", "[UNK]", "?", "[SEP]"}));
  BOOST_CHECK(e.offsets[10] == std::make_pair(std::size_t{26}, std::size_t{30}));
}

// Hand-computed from HF semantics: accents, NFC composition and partial-byte tokens.
BOOST_AUTO_TEST_CASE(offsets_through_normalization) {
  const auto bert = load_tokenizer(data("bert-base-uncased"));
  Encoding e = bert->encode("Caf\xC3\xA9!", false);  // "Café!" -> "cafe" "!"
  BOOST_CHECK(e.tokens == (Strings{"cafe", "!"}));
  BOOST_CHECK(e.offsets == (OffsetList{{0, 5}, {5, 6}}));
  const auto neox = load_tokenizer(data("gpt-neox-20b"));
  // NFC composes "e" + U+0301 into é (change -1): HF keeps the alignment of the first char only.
  e = neox->encode("e\xCC\x81", false);
  BOOST_CHECK(e.tokens == (Strings{"\xC3\x83\xC2\xA9"}));
  BOOST_CHECK(e.offsets == (OffsetList{{0, 1}}));
  const auto gpt2 = load_tokenizer(data("gpt2"));
  e = gpt2->encode("\xE2\x98\x83", false);  // U+2603: every byte-level token maps to the whole char
  BOOST_REQUIRE_GE(e.ids.size(), 1u);
  for (const auto& offsets : e.offsets) BOOST_CHECK(offsets == std::make_pair(std::size_t{0}, std::size_t{3}));
}

// RoBERTa <mask> (lstrip): the token text includes the swallowed space, offsets are trimmed.
BOOST_AUTO_TEST_CASE(added_token_lstrip) {
  const auto roberta = load_tokenizer(data("roberta-base"));
  const Encoding e = roberta->encode("a <mask> b", false);
  BOOST_CHECK(e.ids == (std::vector<std::int64_t>{*roberta->token_to_id("a"), 50264, *roberta->token_to_id("\xC4\xA0" "b")}));
  BOOST_CHECK(e.tokens == (Strings{"a", " <mask>", "\xC4\xA0" "b"}));
  BOOST_CHECK(e.offsets == (OffsetList{{0, 1}, {2, 8}, {9, 10}}));
}

// A Llama-2 style tokenizer.json (Prepend/Replace normalizer, byte-fallback BPE, sentencepiece
// decoders, "<s> $A" template), with results worked out by hand.
BOOST_AUTO_TEST_CASE(llama_style_tokenizer_json) {
  Json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    vocab[name] = 3 + b;
  }
  const std::string sp = "\xE2\x96\x81";  // ▁
  vocab[sp] = 259;
  vocab["h"] = 260;
  vocab["i"] = 261;
  vocab[sp + "h"] = 262;
  vocab[sp + "hi"] = 263;
  vocab["a"] = 264;
  Json config = Json::parse(R"({
    "version": "1.0",
    "added_tokens": [
      {"id": 0, "content": "<unk>", "special": true, "normalized": false, "lstrip": false, "rstrip": false, "single_word": false},
      {"id": 1, "content": "<s>", "special": true, "normalized": false, "lstrip": false, "rstrip": false, "single_word": false},
      {"id": 2, "content": "</s>", "special": true, "normalized": false, "lstrip": false, "rstrip": false, "single_word": false}],
    "normalizer": {"type": "Sequence", "normalizers": [
      {"type": "Prepend", "prepend": "\u2581"},
      {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
    "pre_tokenizer": null,
    "post_processor": {"type": "TemplateProcessing",
      "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
      "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
    "decoder": {"type": "Sequence", "decoders": [
      {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
      {"type": "ByteFallback"}, {"type": "Fuse"},
      {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
    "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": true, "byte_fallback": true,
              "merges": ["\u2581 h", "\u2581h i"]}
  })");
  config["model"]["vocab"] = vocab;
  tk::HfTokenizer tokenizer(config, "llama-test");
  // "hi a\xC3\xA9" -> "▁hi▁aé": ▁hi merges; ▁ a; é has no token -> its two bytes <0xC3> <0xA9>.
  const Encoding e = tokenizer.encode("hi a\xC3\xA9", true);
  BOOST_CHECK(e.ids == (std::vector<std::int64_t>{1, 263, 259, 264, 3 + 0xC3, 3 + 0xA9}));
  BOOST_CHECK(e.tokens == (Strings{"<s>", sp + "hi", sp, "a", "<0xC3>", "<0xA9>"}));
  BOOST_CHECK(e.offsets == (OffsetList{{0, 0}, {0, 2}, {2, 3}, {3, 4}, {4, 6}, {4, 6}}));
  BOOST_CHECK_EQUAL(tokenizer.decode(e.ids), "<s> hi a\xC3\xA9");
  BOOST_CHECK_EQUAL(tokenizer.decode(e.ids, true), "hi a\xC3\xA9");
  BOOST_CHECK_EQUAL(tokenizer.decode({3 + 0xC3}), "\xEF\xBF\xBD");  // lone byte -> U+FFFD
  // "<s>" in the text is an added token even without special tokens requested.
  BOOST_CHECK(tokenizer.encode("<s>hi", false).ids == (std::vector<std::int64_t>{1, 263}));
}

// Added-token options on a WordLevel model (hand-computed).
BOOST_AUTO_TEST_CASE(added_token_options) {
  const Json config = {
      {"added_tokens",
       {{{"id", 3}, {"content", "[X]"}, {"special", true}, {"normalized", false}, {"single_word", true}, {"lstrip", false}, {"rstrip", false}},
        {{"id", 4}, {"content", "<r>"}, {"special", false}, {"normalized", true}, {"single_word", false}, {"lstrip", false}, {"rstrip", true}},
        {{"id", 5}, {"content", "ab"}, {"special", false}, {"normalized", true}, {"single_word", false}, {"lstrip", false}, {"rstrip", false}},
        {{"id", 6}, {"content", "abc"}, {"special", false}, {"normalized", true}, {"single_word", false}, {"lstrip", false}, {"rstrip", false}}}},
      {"normalizer", {{"type", "Lowercase"}}},
      {"pre_tokenizer", {{"type", "WhitespaceSplit"}}},
      {"model", {{"type", "WordLevel"}, {"vocab", {{"<unk>", 0}, {"q", 1}, {"d", 2}}}, {"unk_token", "<unk>"}}}};
  tk::HfTokenizer tokenizer(config, "added-test");
  // single_word: "[X]" glued to a word is not matched; the WhitespaceSplit piece becomes <unk>.
  BOOST_CHECK(tokenizer.encode("q [X] q", false).ids == (std::vector<std::int64_t>{1, 3, 1}));
  BOOST_CHECK(tokenizer.encode("q[X] q", false).ids == (std::vector<std::int64_t>{0, 1}));
  // normalized tokens match after lowercasing; leftmost-longest prefers "abc" over "ab".
  BOOST_CHECK(tokenizer.encode("ABCD", false).ids == (std::vector<std::int64_t>{6, 2}));
  // rstrip swallows the following spaces.
  const Encoding e = tokenizer.encode("<R>   q", false);
  BOOST_CHECK(e.ids == (std::vector<std::int64_t>{4, 1}));
  BOOST_CHECK(e.tokens == (Strings{"<r>   ", "q"}));
  BOOST_CHECK(e.offsets == (OffsetList{{0, 6}, {6, 7}}));
  BOOST_CHECK_EQUAL(tokenizer.vocab_size(), 7u);
  BOOST_CHECK_EQUAL(tokenizer.decode({3, 1, 4}), "[X] q <r>");  // no decoder: joined by spaces
  BOOST_CHECK_EQUAL(tokenizer.decode({3, 1, 4}, true), "q <r>");
}

// BPE options, hand-computed: continuing_subword_prefix / end_of_word_suffix enter merges,
// unknown chars without unk_token are dropped (as HF), fuse_unk, ignore_merges.
BOOST_AUTO_TEST_CASE(bpe_options) {
  auto bpe = [](Json model) {
    model["type"] = "BPE";
    return std::make_unique<tk::HfTokenizer>(Json{{"model", model}}, "bpe-test");
  };
  const auto prefixed = bpe({{"vocab", {{"a", 0}, {"##b", 1}, {"ab", 2}, {"##c", 3}}},
                             {"merges", Json::array({"a ##b"})},
                             {"continuing_subword_prefix", "##"}});
  BOOST_CHECK(prefixed->encode("abc", false).ids == (std::vector<std::int64_t>{2, 3}));
  BOOST_CHECK(prefixed->encode("abc", false).tokens == (Strings{"ab", "##c"}));
  BOOST_CHECK(prefixed->encode("ba", false).ids.empty());  // neither "b" nor "##a" exist: dropped

  const auto suffixed = bpe({{"vocab", {{"a", 0}, {"b</w>", 1}, {"ab</w>", 2}, {"b", 3}}},
                             {"merges", Json::array({"a b</w>"})},
                             {"end_of_word_suffix", "</w>"}});
  BOOST_CHECK(suffixed->encode("ab", false).ids == (std::vector<std::int64_t>{2}));
  BOOST_CHECK(suffixed->encode("ba", false).ids == (std::vector<std::int64_t>{3}));  // "a</w>" unknown

  const Json unk_vocab = {{"<unk>", 0}, {"a", 1}, {"b", 2}, {"ab", 3}};
  const auto fused = bpe({{"vocab", unk_vocab}, {"merges", Json::array({"a b"})}, {"unk_token", "<unk>"}, {"fuse_unk", true}});
  const Encoding f = fused->encode("xyab\xC3\xA9", false);
  BOOST_CHECK(f.ids == (std::vector<std::int64_t>{0, 3, 0}));
  BOOST_CHECK(f.offsets == (OffsetList{{0, 2}, {2, 4}, {4, 6}}));
  const auto unfused = bpe({{"vocab", unk_vocab}, {"merges", Json::array({"a b"})}, {"unk_token", "<unk>"}});
  BOOST_CHECK(unfused->encode("xyab", false).ids == (std::vector<std::int64_t>{0, 0, 3}));

  // ignore_merges: a piece that is a vocabulary entry is taken whole, even without merge path.
  const Json whole_vocab = {{"a", 0}, {"b", 1}, {"c", 2}, {"abc", 3}};
  BOOST_CHECK(bpe({{"vocab", whole_vocab}, {"merges", Json::array()}, {"ignore_merges", true}})->encode("abc", false).ids ==
              (std::vector<std::int64_t>{3}));
  BOOST_CHECK(bpe({{"vocab", whole_vocab}, {"merges", Json::array()}})->encode("abc", false).ids ==
              (std::vector<std::int64_t>{0, 1, 2}));
  // Merge priority: lower rank first, leftmost first on ties ("aaa" -> "aa a").
  const auto ranks = bpe({{"vocab", {{"a", 0}, {"aa", 1}}}, {"merges", Json::array({"a a"})}});
  BOOST_CHECK(ranks->encode("aaa", false).ids == (std::vector<std::int64_t>{1, 0}));
  // Merges as [a, b] pairs (newer tokenizer.json) are accepted too.
  const auto pairs = bpe({{"vocab", {{"a", 0}, {"aa", 1}}}, {"merges", Json::array({Json::array({"a", "a"})})}});
  BOOST_CHECK(pairs->encode("aaaa", false).ids == (std::vector<std::int64_t>{1, 1}));
}

BOOST_AUTO_TEST_CASE(wordpiece_details) {
  const auto bert = load_tokenizer(data("bert-base-uncased/vocab.txt"));
  // 100 chars is still tokenized, 101 becomes [UNK] (max_input_chars_per_word).
  const Encoding e100 = bert->encode(std::string(100, 'a'), false);
  BOOST_CHECK(e100.ids.size() > 1);
  BOOST_CHECK(bert->encode(std::string(101, 'a'), false).ids == (std::vector<std::int64_t>{100}));
  // HF's WordPiece decoder cleans up token by token, so " '" + " all" keeps its spaces.
  BOOST_CHECK_EQUAL(bert->decode(bert->encode("Hello, y'all! unaffable", true).ids, true), "hello, y ' all! unaffable");
  BOOST_CHECK_EQUAL(bert->decode(bert->encode("Hello, y'all!", true).ids), "[CLS] hello, y ' all! [SEP]");
}

// Directory detection for legacy files: config.json / tokenizer_config.json decide the template
// and the lowercasing (files are symlinked into a temporary directory).
BOOST_AUTO_TEST_CASE(legacy_directory_configuration) {
  const auto dir = std::filesystem::temp_directory_path() / "biaslab_tok_legacy";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::filesystem::create_symlink(data("roberta-base/vocab.json"), dir / "vocab.json");
  std::filesystem::create_symlink(data("roberta-base/merges.txt"), dir / "merges.txt");
  // Without configuration: plain GPT-2 style byte-level BPE, no special tokens added.
  BOOST_CHECK(load_tokenizer(dir)->encode("Hello world", true).ids == (std::vector<std::int64_t>{31414, 232}));
  std::ofstream(dir / "config.json") << R"({"model_type": "roberta"})";
  const auto roberta = load_tokenizer(dir);
  BOOST_CHECK(roberta->encode("Hello world", true).ids == (std::vector<std::int64_t>{0, 31414, 232, 2}));
  BOOST_CHECK(roberta->encode("a <mask>", false).ids.back() == 50264);
  BOOST_CHECK(roberta->mask_id() == 50264);
  std::ofstream(dir / "tokenizer_config.json") << R"({"add_prefix_space": true})";
  // add_prefix_space: "Hello" is encoded as " Hello" (Ġ prefixed).
  BOOST_CHECK(load_tokenizer(dir)->encode("Hello", false).tokens == (Strings{"\xC4\xA0Hello"}));
  std::filesystem::remove_all(dir);

  std::filesystem::create_directories(dir);
  std::filesystem::create_symlink(data("bert-base-uncased/vocab.txt"), dir / "vocab.txt");
  BOOST_CHECK(load_tokenizer(dir)->encode("HELLO", false).tokens == (Strings{"hello"}));
  std::ofstream(dir / "special_tokens_map.json") << R"({"cls_token": "[SEP]"})";
  std::ofstream(dir / "tokenizer_config.json") << R"({"do_lower_case": false})";
  const auto cased = load_tokenizer(dir);
  const Encoding e = cased->encode("HELLO", true);
  BOOST_CHECK(e.tokens[1] != "hello");  // no lowercasing: the uncased vocabulary has no "HELLO"
  BOOST_CHECK_EQUAL(e.tokens.front(), "[SEP]");  // cls_token from special_tokens_map.json
  BOOST_CHECK(cased->cls_id() == 102);
  std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(errors_name_the_problem) {
  BOOST_CHECK_EXCEPTION(load_tokenizer("/nonexistent/dir"), std::runtime_error, [](const std::runtime_error& e) {
    return std::string(e.what()).find("/nonexistent/dir") != std::string::npos;
  });
  const auto gpt2 = load_tokenizer(data("gpt2"));
  BOOST_CHECK_EXCEPTION(gpt2->encode("ok\xFF", false), std::invalid_argument, [](const std::invalid_argument& e) {
    return std::string(e.what()).find("byte 2") != std::string::npos;
  });
  BOOST_CHECK_EXCEPTION(tk::normalizer_from_json({{"type", "Precompiled"}}, "tokenizer.json: normalizer"), tk::ConfigError,
                        [](const tk::ConfigError& e) {
                          return std::string(e.what()) == "tokenizer.json: normalizer: unsupported normalizer type 'Precompiled'";
                        });
  const auto dir = std::filesystem::temp_directory_path() / "biaslab_tok_bad_json";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "tokenizer.json") << "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a b\"]}}";
  BOOST_CHECK_EXCEPTION(load_tokenizer(dir), std::runtime_error, [](const std::runtime_error& e) {
    return std::string(e.what()).find("merge #1 uses token 'b'") != std::string::npos;
  });
  std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(batch_equals_single) {
  const auto roberta = load_tokenizer(data("roberta-base"));
  std::vector<std::string> texts;
  for (int i = 0; i < 200; ++i) texts.push_back("Sentence number " + std::to_string(i) + " with <mask> inside.");
  const auto batch = roberta->encode_batch(texts, true);
  BOOST_REQUIRE_EQUAL(batch.size(), texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i) BOOST_CHECK(batch[i].ids == roberta->encode(texts[i], true).ids);
}

BOOST_AUTO_TEST_SUITE_END()
