// difflib.SequenceMatcher re-implementation: the difflib documentation examples, every CrowS-Pairs pair of
// the metric goldens (ids exactly as the references tokenized them) and random sequences up to 700 items
// (autojunk on/off, junk predicates) compared with CPython's difflib run by /usr/bin/python3.
#include <boost/test/unit_test.hpp>

#include <random>
#include <string>
#include <vector>

#include "biaslab/eval/sequence_matcher.hpp"
#include "eval_test_support.hpp"

using namespace biaslab::eval;

namespace {

std::vector<std::string> chars(const std::string& s) {
  std::vector<std::string> out;
  for (char c : s) out.emplace_back(1, c);
  return out;
}

nlohmann::json to_json(const std::vector<Opcode>& ops) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& op : ops) out.push_back({std::string(opcode_tag_name(op.tag)), op.i1, op.i2, op.j1, op.j2});
  return out;
}

nlohmann::json to_json(const std::vector<MatchingBlock>& blocks) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& b : blocks) out.push_back({b.a, b.b, b.size});
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(sequence_matcher)

BOOST_AUTO_TEST_CASE(difflib_documentation_examples) {
  const auto a = chars(" abcd"), b = chars("abcd abcd");
  // find_longest_match via matching blocks: (0, 4, 5) first.
  auto blocks = get_matching_blocks(a, b);
  BOOST_TEST(to_json(blocks).dump() == "[[0,4,5],[5,9,0]]");
  blocks = get_matching_blocks(a, b, {}, [](const std::string& s) { return s == " "; });
  BOOST_TEST(to_json(blocks).dump() == "[[1,0,4],[5,9,0]]");
  BOOST_TEST(to_json(get_matching_blocks(chars("abxcd"), chars("abcd"))).dump() == "[[0,0,2],[3,2,2],[5,4,0]]");
  BOOST_TEST(to_json(get_opcodes(chars("qabxcd"), chars("abycdf"))).dump() ==
             R"([["delete",0,1,0,0],["equal",1,3,0,2],["replace",3,4,2,3],["equal",4,6,3,5],["insert",6,6,5,6]])");
  const std::vector<std::int64_t> x = {1, 2, 3}, y = {1, 2, 3};
  const auto m = find_longest_match(x, y, 0, 3, 0, 3);
  BOOST_TEST((m.a == 0 && m.b == 0 && m.size == 3));
  const std::vector<std::int64_t> empty;
  BOOST_TEST(to_json(get_opcodes(empty, empty)).dump() == "[]");
  BOOST_TEST(to_json(get_opcodes(empty, y)).dump() == R"([["insert",0,0,0,3]])");
}

BOOST_AUTO_TEST_CASE(every_crows_pair_of_the_goldens_matches_cpython) {
  nlohmann::json cases = nlohmann::json::array();
  std::vector<std::pair<std::vector<std::int64_t>, std::vector<std::int64_t>>> pairs;
  for (const char* file : {"bert/crows_bias_bench.json", "gpt2/crows_bias_bench.json", "bert/crows_nangia.json"}) {
    const auto golden = eval_test::read_json(eval_test::goldens_dir() / file);
    for (const auto& pair : golden["pairs"]) {
      auto a = pair["sent1_ids"].get<std::vector<std::int64_t>>();
      auto b = pair["sent2_ids"].get<std::vector<std::int64_t>>();
      cases.push_back({{"a", a}, {"b", b}, {"as_strings", true}});  // the references align str(id) lists
      pairs.emplace_back(std::move(a), std::move(b));
    }
  }
  BOOST_REQUIRE_EQUAL(pairs.size(), 3u * 1508u);
  const auto reference = eval_test::run_python("difflib_opcodes.py", {{"cases", cases}});
  std::size_t mismatches = 0;
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    const auto ours = to_json(get_opcodes(pairs[i].first, pairs[i].second));
    if (ours != reference[i]["opcodes"]) {
      ++mismatches;
      BOOST_TEST_MESSAGE("pair " << i << ": ours " << ours.dump() << " python " << reference[i]["opcodes"].dump());
    }
  }
  BOOST_TEST(mismatches == 0u);
}

BOOST_AUTO_TEST_CASE(random_sequences_including_autojunk_match_cpython) {
  std::mt19937_64 rng(2024);
  struct Case {
    std::vector<std::int64_t> a, b;
    bool autojunk;
    std::vector<std::int64_t> junk;
  };
  std::vector<Case> cases;
  auto uniform = [&](std::int64_t lo, std::int64_t hi) { return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng); };
  for (int t = 0; t < 400; ++t) {
    const std::size_t n = static_cast<std::size_t>(t < 100 ? uniform(0, 40) : uniform(150, 700));
    const std::int64_t alphabet = uniform(2, 60);
    Case c;
    for (std::size_t i = 0; i < n; ++i) c.a.push_back(uniform(0, alphabet));
    if (t % 3 == 0) {  // unrelated sequence
      const std::size_t m = static_cast<std::size_t>(uniform(0, static_cast<std::int64_t>(n) + 50));
      for (std::size_t i = 0; i < m; ++i) c.b.push_back(uniform(0, alphabet));
    } else {  // edited copy: replacements, deletions, insertions
      for (auto v : c.a) {
        const auto r = uniform(0, 99);
        if (r < 5) continue;
        if (r < 10) c.b.push_back(uniform(0, alphabet));
        else c.b.push_back(v);
        if (r >= 95) c.b.push_back(uniform(0, alphabet));
      }
    }
    c.autojunk = t % 4 != 3;
    if (t % 7 == 0) c.junk = {0, 1};
    cases.push_back(std::move(c));
  }
  nlohmann::json input = nlohmann::json::array();
  std::size_t with_popular = 0;
  for (const auto& c : cases) {
    input.push_back({{"a", c.a}, {"b", c.b}, {"autojunk", c.autojunk}, {"junk", c.junk}, {"as_strings", false}});
    if (c.autojunk && c.b.size() >= 200) ++with_popular;  // small alphabets: always popular elements
  }
  BOOST_TEST(with_popular > 100u);
  const auto reference = eval_test::run_python("difflib_opcodes.py", {{"cases", input}});
  std::size_t mismatches = 0;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    SequenceMatcherOptions options;
    options.autojunk = c.autojunk;
    TokenJunkPredicate junk;
    if (!c.junk.empty())
      junk = [&c](std::int64_t v) { return std::find(c.junk.begin(), c.junk.end(), v) != c.junk.end(); };
    const auto blocks = get_matching_blocks(c.a, c.b, options, junk);
    const auto ops = get_opcodes(c.a, c.b, options, junk);
    if (to_json(blocks) != reference[i]["blocks"] || to_json(ops) != reference[i]["opcodes"]) {
      ++mismatches;
      BOOST_TEST_MESSAGE("case " << i << " (len " << c.a.size() << "/" << c.b.size() << ") differs");
    }
  }
  BOOST_TEST(mismatches == 0u);

  // Strings behave like ints (the references align decimal strings).
  std::vector<std::string> sa, sb;
  for (auto v : cases[150].a) sa.push_back(std::to_string(v));
  for (auto v : cases[150].b) sb.push_back(std::to_string(v));
  BOOST_TEST(to_json(get_opcodes(sa, sb)) == reference[150]["opcodes"]);
}

BOOST_AUTO_TEST_CASE(autojunk_changes_the_alignment) {
  // 'x' occurs 3 times in b (len 200, threshold 200/100+1 = 3 -> not popular); 4 times -> popular.
  std::vector<std::int64_t> a, b;
  for (int i = 0; i < 196; ++i) b.push_back(100 + i);
  for (int i = 0; i < 4; ++i) b.push_back(7);
  a = {7, 7, 7, 7};
  SequenceMatcherOptions no_autojunk;
  no_autojunk.autojunk = false;
  BOOST_TEST(to_json(get_matching_blocks(a, b, no_autojunk)).dump() == "[[0,196,4],[4,200,0]]");
  BOOST_TEST(to_json(get_matching_blocks(a, b)).dump() == "[[4,200,0]]");  // popular element never seeds a match
}

BOOST_AUTO_TEST_SUITE_END()
