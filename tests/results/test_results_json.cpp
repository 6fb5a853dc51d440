#include <boost/test/unit_test.hpp>
#include <cmath>
#include <limits>

#include "biaslab/results.hpp"

using biaslab::ExampleRow;
using biaslab::ResultRow;
using nlohmann::json;

namespace {
std::string error_of(const json& j) {
  try {
    (void)j.get<ResultRow>();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "no error";
}
}  // namespace

BOOST_AUTO_TEST_SUITE(results_json)

BOOST_AUTO_TEST_CASE(result_row_has_documented_layout_and_round_trips) {
  ResultRow r;
  r.model = "pythia-70m";
  r.metric = "crows_pairs.metric_score";
  r.category = "gender";
  r.value = 0.5625;
  r.ci_low = 0.5;
  r.ci_high = 0.625;
  r.n = 262;
  r.extra = {{"stereo", 150}};
  const json j = r;
  BOOST_TEST(j.dump() ==
             R"({"category":"gender","ci_high":0.625,"ci_low":0.5,"extra":{"stereo":150},)"
             R"("metric":"crows_pairs.metric_score","model":"pythia-70m","n":262,"value":0.5625})");
  const auto back = json::parse(j.dump()).get<ResultRow>();
  BOOST_TEST(back.model == r.model);
  BOOST_TEST(back.metric == r.metric);
  BOOST_TEST(back.category == r.category);
  BOOST_TEST(back.value == r.value);
  BOOST_TEST(*back.ci_low == 0.5);
  BOOST_TEST(*back.ci_high == 0.625);
  BOOST_TEST(*back.n == 262);
  BOOST_TEST(back.extra == r.extra);
}

BOOST_AUTO_TEST_CASE(absent_optionals_are_omitted_and_defaults_apply) {
  ResultRow r;
  r.model = "m";
  r.metric = "bytes";
  r.value = 3;
  BOOST_TEST(json(r).dump() == R"({"category":"overall","extra":{},"metric":"bytes","model":"m","value":3.0})");
  const auto back = json::parse(R"({"model":"m","metric":"bytes","value":3,"ci_low":null})").get<ResultRow>();
  BOOST_TEST(back.category == "overall");
  BOOST_TEST(!back.ci_low.has_value());
  BOOST_TEST(!back.ci_high.has_value());
  BOOST_TEST(!back.n.has_value());
  BOOST_TEST(back.extra == json::object());
}

BOOST_AUTO_TEST_CASE(non_finite_values_survive_a_text_round_trip) {
  for (double v : {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(),
                   -std::numeric_limits<double>::infinity()}) {
    ResultRow r;
    r.model = "m";
    r.metric = "ppl";
    r.value = v;
    r.ci_low = v;
    const std::string text = json(r).dump();
    const auto back = json::parse(text).get<ResultRow>();
    if (std::isnan(v)) {
      BOOST_TEST(text.find(R"("value":"NaN")") != std::string::npos);
      BOOST_TEST(std::isnan(back.value));
      BOOST_TEST(std::isnan(*back.ci_low));
    } else {
      BOOST_TEST(text.find(v > 0 ? R"("value":"Infinity")" : R"("value":"-Infinity")") !=
                 std::string::npos);
      BOOST_TEST(back.value == v);
      BOOST_TEST(*back.ci_low == v);
    }
  }
  // null (what other writers produce for NaN) reads as NaN.
  BOOST_TEST(std::isnan(json::parse(R"({"model":"m","metric":"x","value":null})").get<ResultRow>().value));
}

BOOST_AUTO_TEST_CASE(malformed_rows_are_rejected_with_the_key_named) {
  BOOST_TEST(error_of(json::parse(R"({"model":"m","metric":"x"})")).find("missing key 'value'") !=
             std::string::npos);
  BOOST_TEST(error_of(json::parse(R"({"model":"m","metric":"x","value":"high"})")).find("key 'value'") !=
             std::string::npos);
  BOOST_TEST(error_of(json::parse(R"({"model":1,"metric":"x","value":1})")).find("key 'model' must be a string") !=
             std::string::npos);
  BOOST_TEST(error_of(json::parse(R"({"model":"m","metric":"x","value":1,"n":2.5})")).find("key 'n' must be an integer") !=
             std::string::npos);
  BOOST_TEST(error_of(json::parse(R"({"model":"m","metric":"x","value":1,"vlaue":2})")).find("unknown key 'vlaue'") !=
             std::string::npos);
  BOOST_TEST(error_of(json::parse(R"([1,2])")).find("expected a JSON object") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(example_row_round_trips_and_validates) {
  ExampleRow e{"m", "crows_pairs.metric_score", "17", {{"sent_more", -1.25}}};
  const json j = e;
  BOOST_TEST(j.dump() == R"({"example_id":"17","metric":"crows_pairs.metric_score","model":"m","values":{"sent_more":-1.25}})");
  const auto back = j.get<ExampleRow>();
  BOOST_TEST(back.example_id == "17");
  BOOST_TEST(back.values == e.values);
  BOOST_CHECK_THROW((void)json::parse(R"({"model":"m","metric":"x","example_id":3,"values":{}})").get<ExampleRow>(),
                    std::invalid_argument);
  BOOST_CHECK_THROW((void)json::parse(R"({"model":"m","metric":"x","example_id":"3","values":[1]})").get<ExampleRow>(),
                    std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
