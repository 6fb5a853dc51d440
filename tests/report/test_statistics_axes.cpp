// Kendall tau-b (scipy.stats.kendalltau semantics), axis detection and value parsing.
#include <cmath>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "biaslab/report.hpp"

using namespace biaslab::report;
using nlohmann::json;

BOOST_AUTO_TEST_SUITE(kendall)

BOOST_AUTO_TEST_CASE(no_ties_exact_p) {
  // Pairs: 8 concordant, 2 discordant (3>2 and 5>4) -> tau = 6/10. Exact p = 2 * P(inversions
  // <= 2 | n = 5) = 2 * (1 + 4 + 9) / 120.
  const std::vector<double> x = {1, 2, 3, 4, 5}, y = {1, 3, 2, 5, 4};
  const auto k = kendall_tau_b(x, y);
  BOOST_TEST(k.n == 5u);
  BOOST_TEST(k.tau_b == 0.6, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(k.exact);
  BOOST_TEST(k.p_value == 28.0 / 120.0, boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(ties_use_tau_b_and_asymptotic_p) {
  // 4 concordant, 0 discordant, one tie in x and one in y: 5 untied pairs each -> tau_b = 4/5.
  // var = (4*3*13 - 18 - 18)/18 + (2*2)/(2*4*3) = 6.8333..., z = 4/sqrt(var) = 1.530184,
  // p = erfc(z/sqrt 2) = 0.1259712 (scipy's tie-corrected normal approximation).
  const std::vector<double> x = {1, 2, 2, 3}, y = {1, 2, 3, 3};
  const auto k = kendall_tau_b(x, y);
  BOOST_TEST(k.tau_b == 0.8, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(!k.exact);
  BOOST_TEST(k.p_value == 0.1259711630772311, boost::test_tools::tolerance(1e-9));
}

BOOST_AUTO_TEST_CASE(exact_p_n8_mahonian) {
  // Report fixture, model "pretrain": y in x order = 50,53,55,57,56,54,52,59 -> 19 concordant, 9
  // discordant: tau = 10/28. P(inversions <= 9 | n = 8) = (1+7+27+76+174+343+602+961+1415+1940)/8!.
  const std::vector<double> x = {80, 90, 85, 84, 81, 82, 83, 95}, y = {50, 52, 54, 56, 53, 55, 57, 59};
  const auto k = kendall_tau_b(x, y);
  BOOST_TEST(k.tau_b == 10.0 / 28.0, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(k.exact);
  BOOST_TEST(k.p_value == 2.0 * 5546.0 / 40320.0, boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(large_monotone_closed_form) {
  // n = 40 > 33 without ties: scipy still uses the exact p when min(dis, con) <= 1:
  // 2/40! for a perfect order, 2/39! with one adjacent swap.
  std::vector<double> x(40), y(40);
  double factorial39 = 1;
  for (int i = 0; i < 40; ++i) x[i] = y[i] = i;
  for (int i = 2; i <= 39; ++i) factorial39 *= i;
  auto k = kendall_tau_b(x, y);
  BOOST_TEST(k.tau_b == 1.0);
  BOOST_TEST(k.exact);
  BOOST_TEST(k.p_value == 2.0 / (factorial39 * 40), boost::test_tools::tolerance(1e-9));
  std::swap(y[0], y[1]);
  k = kendall_tau_b(x, y);
  BOOST_TEST(k.tau_b == 1.0 - 2.0 / 780.0, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(k.p_value == 2.0 / factorial39, boost::test_tools::tolerance(1e-9));
}

BOOST_AUTO_TEST_CASE(degenerate_inputs) {
  const std::vector<double> one = {1}, c3 = {2, 2, 2}, v3 = {1, 2, 3};
  BOOST_TEST(std::isnan(kendall_tau_b(one, one).tau_b));
  BOOST_TEST(std::isnan(kendall_tau_b(c3, v3).tau_b));
  const std::vector<double> nanx = {1, NAN, 3, 4}, y4 = {4, 3, 2, 1};
  const auto k = kendall_tau_b(nanx, y4);
  BOOST_TEST(k.n == 3u);
  BOOST_TEST(k.tau_b == -1.0, boost::test_tools::tolerance(1e-12));
  BOOST_CHECK_THROW(kendall_tau_b(v3, one), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(axes)

BOOST_AUTO_TEST_CASE(step_values) {
  BOOST_TEST(*parse_step_value("step143000") == 143000.0);
  BOOST_TEST(*parse_step_value("frac0.2") == 0.2);
  BOOST_TEST(*parse_step_value(json(7000)) == 7000.0);
  BOOST_TEST(*parse_step_value("1000") == 1000.0);
  BOOST_TEST(!parse_step_value("main").has_value());
  BOOST_TEST(!parse_step_value("step").has_value());
  BOOST_TEST(!parse_step_value("stepX").has_value());
  BOOST_TEST(!parse_step_value(json::object()).has_value());
}

BOOST_AUTO_TEST_CASE(parameter_counts) {
  BOOST_TEST(*parse_parameter_count("EleutherAI/pythia-70m-deduped") == 7e7);
  BOOST_TEST(*parse_parameter_count("EleutherAI/pythia-1.4b-deduped") == 1.4e9);
  BOOST_TEST(*parse_parameter_count("125M") == 1.25e8);
  BOOST_TEST(*parse_parameter_count("6.9B") == 6.9e9);
  BOOST_TEST(*parse_parameter_count("350000") == 350000.0);
  BOOST_TEST(!parse_parameter_count("bert-base-uncased").has_value());
  BOOST_TEST(!parse_parameter_count("small").has_value());
}

BOOST_AUTO_TEST_CASE(detects_quickstart_and_pythia_layouts) {
  const std::vector<json> quick = {{{"size", {{"name", "small"}}}, {"checkpoint", "frac0.2"}},
                                   {{"size", {{"name", "base"}}}, {"checkpoint", "frac1.0"}}};
  auto a = detect_axes(quick, {"size", "checkpoint"});
  BOOST_TEST(a.step_var == "checkpoint");
  BOOST_TEST(a.size_var == "size");

  // Pythia: model names and revisions; the step axis found by its values, not its name.
  const std::vector<json> pythia = {{{"model", "EleutherAI/pythia-70m-deduped"}, {"rev", "step1000"}},
                                    {{"model", "EleutherAI/pythia-160m-deduped"}, {"rev", "step143000"}}};
  a = detect_axes(pythia, {"model", "rev"});
  BOOST_TEST(a.step_var == "rev");
  BOOST_TEST(a.size_var == "model");

  // Plain numbers qualify only when they take several values; names win over values.
  const std::vector<json> numeric = {{{"bits", 4}, {"seed", 1}, {"revision", "main"}},
                                     {{"bits", 4}, {"seed", 2}, {"revision", "step5"}}};
  a = detect_axes(numeric, {"bits", "seed", "revision"});
  BOOST_TEST(a.step_var == "revision");
  a = detect_axes({{{"bits", 4}, {"seed", 1}}, {{"bits", 4}, {"seed", 2}}}, {"bits", "seed"});
  BOOST_TEST(a.step_var == "seed");
  BOOST_TEST(a.size_var.empty());
}

BOOST_AUTO_TEST_CASE(overrides_are_checked) {
  const std::vector<json> cells = {{{"q", {{"bits", 4}}}, {"t", "a"}}, {{"q", {{"bits", 8}}}, {"t", "b"}}};
  auto a = detect_axes(cells, {"q", "t"}, "q.bits", "t");
  BOOST_TEST(a.step_var == "q.bits");
  BOOST_TEST(a.size_var == "t");
  a = detect_axes(cells, {"q", "t"}, "none", "none");
  BOOST_TEST(a.step_var.empty());
  BOOST_TEST(a.size_var.empty());
  BOOST_CHECK_THROW(detect_axes(cells, {"q", "t"}, "nope"), std::invalid_argument);
  BOOST_CHECK_THROW(detect_axes(cells, {"q", "t"}, "", "q.nope"), std::invalid_argument);
  BOOST_TEST(parse_formats("html,latex").latex);
  BOOST_TEST(!parse_formats("html,latex").markdown);
  BOOST_TEST(parse_formats("all").markdown);
  BOOST_CHECK_THROW(parse_formats("pdf"), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
