// adjust_p_values against R's p.adjust. The vector is the 15 p-values of Benjamini & Hochberg
// (1995, JRSS-B 57:289, section 4.1), in a shuffled order; BH at q = 0.05 rejects exactly the 4
// smallest, as in the paper. Expected values: R's p.adjust formulas
//   BH:   pmin(1, cummin(n / i * p[o]))[order(o)], o = order(p, decreasing = TRUE), i = n:1
//   holm: pmin(1, cummax((n - i + 1) * p[o]))[order(o)], o = order(p), i = 1:n
// evaluated with numpy 1.24 (Debian /usr/bin/python3; R is not installed here). Sorted, the BH
// values are 0.0015 0.003 0.0095 0.035625 0.0603 0.0638571 0.0638571 0.0645 0.0765 0.486 ...
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "biaslab/report.hpp"

using namespace biaslab::report;

namespace {

const std::vector<double> kP = {1.0,    0.0095, 0.0001, 0.324,  0.0298, 0.0004, 0.6528, 0.0201,
                                0.4262, 0.0019, 0.0459, 0.759,  0.0278, 0.5719, 0.0344};

void check_close(const std::vector<double>& got, const std::vector<double>& want) {
  BOOST_REQUIRE_EQUAL(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    BOOST_TEST_INFO("index " << i);
    BOOST_TEST(got[i] == want[i], boost::test_tools::tolerance(1e-12));
  }
}

std::size_t below(const std::vector<double>& v, double alpha) {
  std::size_t n = 0;
  for (double x : v) n += x < alpha;
  return n;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(multiple_comparisons)

BOOST_AUTO_TEST_CASE(benjamini_hochberg_matches_p_adjust) {
  const auto bh = adjust_p_values(kP, Correction::bh);
  check_close(bh, {1, 0.035625, 0.0015, 0.486, 0.063857142857142862, 0.003, 0.75323076923076926, 0.0603,
                   0.58118181818181813, 0.0095, 0.0765, 0.81321428571428567, 0.063857142857142862,
                   0.714875, 0.0645});
  BOOST_TEST(below(bh, 0.05) == 4u);   // the paper's 4 rejections
  BOOST_TEST(below(kP, 0.05) == 9u);   // raw p < 0.05 would have starred 9
}

BOOST_AUTO_TEST_CASE(holm_and_bonferroni_match_p_adjust) {
  check_close(adjust_p_values(kP, Correction::holm),
              {1, 0.114, 0.0015, 1, 0.278, 0.0056, 1, 0.2211, 1, 0.0247, 0.3213, 1, 0.278, 1, 0.278});
  check_close(adjust_p_values(kP, Correction::bonferroni),
              {1, 0.1425, 0.0015, 1, 0.447, 0.006, 1, 0.3015, 1, 0.0285, 0.6885, 1, 0.417, 1, 0.516});
  check_close(adjust_p_values(kP, Correction::none), kP);
}

BOOST_AUTO_TEST_CASE(nan_is_kept_and_not_counted) {
  // p.adjust(c(0.01, NA, 0.04, 0.03), "BH") = 0.03 NA 0.04 0.04 (n = 3, not 4).
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const auto bh = adjust_p_values(std::vector<double>{0.01, nan, 0.04, 0.03}, Correction::bh);
  BOOST_TEST(std::isnan(bh[1]));
  BOOST_TEST(bh[0] == 0.03, boost::test_tools::tolerance(1e-15));
  BOOST_TEST(bh[2] == 0.04, boost::test_tools::tolerance(1e-15));
  BOOST_TEST(bh[3] == 0.04, boost::test_tools::tolerance(1e-15));
  BOOST_TEST(adjust_p_values(std::vector<double>{}, Correction::bh).empty());
}

BOOST_AUTO_TEST_CASE(names_and_bad_input) {
  BOOST_TEST((parse_correction("bh") == Correction::bh));
  BOOST_TEST((parse_correction("fdr") == Correction::bh));
  BOOST_TEST((parse_correction("holm") == Correction::holm));
  BOOST_TEST((parse_correction("bonferroni") == Correction::bonferroni));
  BOOST_TEST((parse_correction("none") == Correction::none));
  BOOST_CHECK_THROW(parse_correction("hochberg"), std::invalid_argument);
  BOOST_TEST(to_string(Correction::holm) == "holm");
  BOOST_CHECK_THROW(adjust_p_values(std::vector<double>{0.2, 1.5}, Correction::bh), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
