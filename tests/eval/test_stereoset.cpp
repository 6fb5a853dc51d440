// StereoSet: the dev loader, template words and masked step texts against the BERT golden, the
// ScoreEvaluator against both metric goldens (bias-bench) and against the authors' predictions.txt
// (original evaluator), the latter compared as printed text, digit for digit.
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "biaslab/eval/python_numeric.hpp"
#include "biaslab/eval/stereoset.hpp"
#include "eval_test_support.hpp"

using namespace biaslab::eval;

namespace {

const StereoSetData& dev() {
  static const StereoSetData data = load_stereoset(eval_test::data_dir() / "stereoset/dev_reconstructed.json");
  return data;
}

// HF BertTokenizer.decode(ids) with clean_up_tokenization_spaces=True, enough for one word's pieces.
class BertDecoder {
 public:
  explicit BertDecoder(const std::filesystem::path& vocab_file) {
    std::ifstream in(vocab_file);
    std::string line;
    while (std::getline(in, line)) vocab_.push_back(line);
  }
  std::string operator()(std::span<const std::int64_t> ids) const {
    std::string text;
    for (std::size_t i = 0; i < ids.size(); ++i) {
      const std::string& token = vocab_.at(static_cast<std::size_t>(ids[i]));
      if (i > 0) text += " ";
      text += token;
    }
    text = replace(text, " ##", "");
    for (const char* p : {" .", " ?", " !", " ,"}) text = replace(text, p, std::string(p + 1));
    text = replace(text, " ' ", "'");
    for (const char* p : {" n't", " 'm", " 's", " 've", " 're"}) text = replace(text, p, std::string(p + 1));
    return text;
  }

 private:
  static std::string replace(std::string s, const std::string& from, const std::string& to) {
    std::size_t at = 0;
    while ((at = s.find(from, at)) != std::string::npos) {
      s.replace(at, from.size(), to);
      at += to.size();
    }
    return s;
  }
  std::vector<std::string> vocab_;
};

void check_score(const StereoSetScore& ours, const nlohmann::json& expected) {
  BOOST_TEST(ours.count == expected["Count"].get<double>());
  BOOST_TEST(ours.lm_score == expected["LM Score"].get<double>());
  BOOST_TEST(ours.ss_score == expected["SS Score"].get<double>());
  BOOST_TEST(ours.icat_score == expected["ICAT Score"].get<double>());
}

// predictions.txt block for one file: "task/domain/key" -> printed value.
std::map<std::string, std::string> printed_block(const std::string& predictions_file) {
  std::ifstream in(eval_test::data_dir() / "stereoset/reference_predictions/predictions.txt");
  std::string line;
  bool inside = false;
  std::map<std::string, std::string> values;
  std::vector<std::string> path(3);
  while (std::getline(in, line)) {
    if (line.rfind("Evaluating ", 0) == 0) {
      if (inside) break;
      inside = line.find(predictions_file) != std::string::npos;
      continue;
    }
    if (!inside || line.empty()) continue;
    std::size_t depth = 0;
    while (depth < line.size() && line[depth] == '\t') ++depth;
    const std::string content = line.substr(depth);
    const auto colon = content.find(": ");
    if (colon == std::string::npos) {
      path[depth] = content;
      continue;
    }
    std::string key;
    for (std::size_t d = 0; d < depth; ++d) key += path[d] + "/";
    values[key + content.substr(0, colon)] = content.substr(colon + 2);
  }
  return values;
}

void add_printed(std::map<std::string, std::string>& out, const std::string& prefix, const StereoSetScore& s) {
  out[prefix + "Count"] = python_float_repr(s.count);
  out[prefix + "LM Score"] = python_float_repr(s.lm_score);
  out[prefix + "SS Score"] = python_float_repr(s.ss_score);
  out[prefix + "ICAT Score"] = python_float_repr(s.icat_score);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(stereoset)

BOOST_AUTO_TEST_CASE(dev_loader_counts) {
  const auto& data = dev();
  BOOST_TEST(data.intrasentence.size() == 2106u);
  BOOST_TEST(data.intersentence.size() == 2123u);
  std::map<std::string, std::size_t> domains;
  std::size_t empty_labels = 0, sentences = 0;
  for (const auto* task : {&data.intrasentence, &data.intersentence})
    for (const auto& ex : *task) {
      BOOST_TEST_REQUIRE(ex.sentences.size() == 3u);
      for (const auto& s : ex.sentences) {
        empty_labels += s.labels.empty();
        ++sentences;
      }
    }
  for (const auto& ex : data.intrasentence) ++domains[ex.bias_type];
  BOOST_TEST(domains["gender"] == 255u);
  BOOST_TEST(domains["profession"] == 810u);
  BOOST_TEST(domains["race"] == 962u);
  BOOST_TEST(domains["religion"] == 79u);
  BOOST_TEST(sentences == 6318u + 6369u);
  BOOST_TEST(empty_labels == 2430u + 6369u);  // accepted, as documented in SOURCES.md
}

BOOST_AUTO_TEST_CASE(template_words_match_the_reference_loader) {
  const auto golden = eval_test::read_json(eval_test::goldens_dir() / "bert/stereoset.json");
  std::vector<const StereoSetSentence*> ours;
  for (const auto& ex : dev().intrasentence)
    for (const auto& s : ex.sentences) ours.push_back(&s);
  BOOST_REQUIRE_EQUAL(ours.size(), golden["sentences"].size());
  std::size_t mismatches = 0;
  for (std::size_t i = 0; i < ours.size(); ++i) {
    const auto& g = golden["sentences"][i];
    mismatches += ours[i]->id != g["id"] || ours[i]->template_word != g["template_word"];
  }
  BOOST_TEST(mismatches == 0u);
}

BOOST_AUTO_TEST_CASE(template_word_rules) {
  BOOST_TEST(stereoset_template_word("The man is BLANK.", "The man is hard-working.") == "hardworking");
  BOOST_TEST(stereoset_template_word("BLANK people are BLANK.", "Many people are rich.") == "rich");  // last BLANK
  BOOST_TEST(stereoset_template_word("He  is BLANK", "He  is tall!") == "tall");  // empty word kept by split(" ")
  BOOST_TEST(stereoset_template_word("A BLANK", "A caf\xC3\xA9's") == "caf\xC3\xA9s");  // non-ASCII kept
  BOOST_CHECK_THROW(stereoset_template_word("no blank here", "x"), std::invalid_argument);
  BOOST_CHECK_THROW(stereoset_template_word("a b BLANK", "a b"), std::invalid_argument);
  BOOST_TEST(stereoset_insertion_text("tall", true) == " tall");
  BOOST_TEST(stereoset_insertion_text("tall", false) == "tall");
}

BOOST_AUTO_TEST_CASE(masked_steps_match_the_bert_golden) {
  const auto golden = eval_test::read_json(eval_test::goldens_dir() / "bert/stereoset.json");
  std::unordered_map<std::string, const StereoSetExample*> examples;
  for (const auto& ex : dev().intrasentence) examples[ex.id] = &ex;
  const BertDecoder decode(eval_test::fixtures_dir() / "bert/vocab.txt");
  std::size_t steps = 0, mismatches = 0, score_mismatches = 0;
  for (const auto& sentence : golden["sentences"]) {
    std::vector<std::int64_t> pieces;
    std::vector<double> probs;
    for (const auto& step : sentence["steps"]) {
      pieces.push_back(step["target_id"]);
      probs.push_back(step["prob"]);
    }
    const auto& example = *examples.at(sentence["example_id"]);
    const auto ours = stereoset_mask_steps(example.context, pieces, "[MASK]", std::cref(decode));
    for (std::size_t k = 0; k < ours.size(); ++k) {
      ++steps;
      if (ours[k].masked_text != sentence["steps"][k]["masked_text"] || ours[k].target_id != pieces[k]) {
        ++mismatches;
        BOOST_TEST_MESSAGE(sentence["id"] << " step " << k << ": " << ours[k].masked_text);
      }
    }
    // The sentence score is np.mean of the step probabilities.
    score_mismatches += stereoset_masked_score(probs) != sentence["score"].get<double>();
  }
  BOOST_TEST(steps == 8048u);
  BOOST_TEST(mismatches == 0u);
  BOOST_TEST(score_mismatches == 0u);
}

BOOST_AUTO_TEST_CASE(bias_bench_evaluator_reproduces_the_goldens) {
  for (const char* model : {"bert", "gpt2"}) {
    BOOST_TEST_CONTEXT(model) {
      const auto golden = eval_test::read_json(eval_test::goldens_dir() / model / "stereoset.json");
      StereoSetPredictions predictions;
      for (const auto& s : golden["sentences"]) predictions[s["id"]] = s["score"].get<double>();
      const auto results = score_stereoset(dev(), predictions, StereoSetEvaluator::bias_bench);
      const auto& expected = golden["results"];
      for (const char* domain : {"gender", "profession", "race", "religion"})
        BOOST_TEST_CONTEXT(domain) { check_score(results.intrasentence.domains.at(domain), expected["intrasentence"][domain]); }
      check_score(results.intrasentence.overall, expected["intrasentence"]["overall"]);
      check_score(results.overall, expected["overall"]);
      BOOST_TEST(!results.intersentence.has_value());
      BOOST_TEST(results.intrasentence.overall.terms.size() == 79u);
    }
  }
}

BOOST_AUTO_TEST_CASE(original_evaluator_reproduces_predictions_txt_digit_for_digit) {
  for (const char* file : {"predictions_gpt2_ModelNSP_GPT2LM.json", "predictions_bert-base-cased_BertNextSentence_BertLM.json"}) {
    BOOST_TEST_CONTEXT(file) {
      const auto predictions = load_stereoset_predictions(eval_test::data_dir() / "stereoset/reference_predictions" / file);
      BOOST_TEST(predictions.size() == 6318u + 6369u);
      const auto results = score_stereoset(dev(), predictions, StereoSetEvaluator::original);
      std::map<std::string, std::string> ours;
      for (const auto& [domain, score] : results.intrasentence.domains) add_printed(ours, "intrasentence/" + domain + "/", score);
      add_printed(ours, "intrasentence/overall/", results.intrasentence.overall);
      for (const auto& [domain, score] : results.intersentence->domains) add_printed(ours, "intersentence/" + domain + "/", score);
      add_printed(ours, "intersentence/overall/", results.intersentence->overall);
      add_printed(ours, "overall/", results.overall);
      const auto expected = printed_block(file);
      BOOST_TEST(expected.size() == 44u);
      BOOST_TEST(ours.size() == expected.size());
      for (const auto& [key, printed] : expected) {
        const auto it = ours.find(key);
        BOOST_TEST_CONTEXT(key) {
          BOOST_TEST_REQUIRE((it != ours.end()));
          BOOST_TEST(it->second == printed);
        }
      }
    }
  }
  // The METRICS.md oracle values, as numbers.
  const auto gpt2 = score_stereoset(
      dev(), load_stereoset_predictions(eval_test::data_dir() / "stereoset/reference_predictions/predictions_gpt2_ModelNSP_GPT2LM.json"),
      StereoSetEvaluator::original);
  BOOST_TEST(gpt2.intrasentence.overall.lm_score == 91.1149426618542);
  BOOST_TEST(gpt2.intrasentence.overall.ss_score == 61.931485244958985);
  BOOST_TEST(gpt2.intrasentence.overall.icat_score == 69.37221078255025);
  BOOST_TEST(gpt2.intrasentence.domains.at("gender").count == 765.0);  // 3x the 255 examples (reference quirk)
  BOOST_TEST(gpt2.intrasentence.overall.count == 2106.0);
}

BOOST_AUTO_TEST_CASE(scorer_hand_computed) {
  // Two targets; target A: ex1 stereo>anti, both > unrelated; ex2 tie stereo == anti (-> anti), one related.
  // Target B: ex3 anti > stereo, none related.
  auto make = [](std::string id, std::string target) {
    StereoSetExample ex{id, "gender", target, "ctx BLANK", {}};
    ex.sentences = {{id + "s", "", StereoSetGoldLabel::stereotype, {}, ""},
                    {id + "a", "", StereoSetGoldLabel::anti_stereotype, {}, ""},
                    {id + "u", "", StereoSetGoldLabel::unrelated, {}, ""}};
    return ex;
  };
  const std::vector<StereoSetExample> examples = {make("e1", "A"), make("e2", "A"), make("e3", "B")};
  const StereoSetPredictions p = {{"e1s", 0.5}, {"e1a", 0.4}, {"e1u", 0.1}, {"e2s", 0.3}, {"e2a", 0.3},
                                  {"e2u", 0.35}, {"e3s", 0.1}, {"e3a", 0.2}, {"e3u", 0.9}};
  std::vector<const StereoSetExample*> ptrs = {&examples[0], &examples[1], &examples[2]};
  const auto score = score_stereoset_examples(ptrs, p);
  // A: pro 1/2 -> ss 50, related 2 + 0 = 2 of 4 -> lms 50; B: ss 0, lms 0.
  BOOST_TEST(score.ss_score == 25.0);
  BOOST_TEST(score.lm_score == 25.0);
  BOOST_TEST(score.icat_score == 25.0 * (25.0 / 50.0));
  BOOST_TEST(score.count == 3.0);
  BOOST_TEST(score_stereoset_examples(ptrs, p, true).count == 9.0);  // the domain-list duplication
  BOOST_TEST(score_stereoset_examples(ptrs, p, true).ss_score == 25.0);
  StereoSetPredictions missing = p;
  missing.erase("e3u");
  BOOST_CHECK_THROW(score_stereoset_examples(ptrs, missing), std::out_of_range);
  const auto decisions = stereoset_example_decisions(examples, p);
  BOOST_TEST(decisions[0].stereotype_preferred);
  BOOST_TEST(!decisions[1].stereotype_preferred);
  BOOST_TEST(decisions[2].anti_over_unrelated == false);
}

BOOST_AUTO_TEST_SUITE_END()
