// Learning-rate and checkpoint schedules against hand-computed values.
#include <boost/test/unit_test.hpp>

#include <cmath>

#include "biaslab/runtime/train/schedules.hpp"

namespace train = biaslab::runtime::train;

BOOST_AUTO_TEST_SUITE(schedules)

BOOST_AUTO_TEST_CASE(warmup_then_cosine_decay) {
  const train::LearningRateSchedule s{1e-3, 10, 110, 0.1};
  BOOST_CHECK_CLOSE(s.at(0), 1e-4, 1e-9);  // (0 + 1) / 10
  BOOST_CHECK_CLOSE(s.at(4), 5e-4, 1e-9);
  BOOST_CHECK_CLOSE(s.at(9), 1e-3, 1e-9);
  BOOST_CHECK_CLOSE(s.at(10), 1e-3, 1e-9);  // decay starts at the peak
  // Half-way through the decay (step 60 of 10..110): min + (peak - min) / 2 = 5.5e-4.
  BOOST_CHECK_CLOSE(s.at(60), 5.5e-4, 1e-9);
  // A quarter: 1e-4 + 9e-4 * (1 + cos(pi / 4)) / 2.
  BOOST_CHECK_CLOSE(s.at(35), 1e-4 + 9e-4 * (1 + std::cos(M_PI / 4)) / 2, 1e-9);
  BOOST_CHECK_CLOSE(s.at(110), 1e-4, 1e-9);
  BOOST_CHECK_CLOSE(s.at(500), 1e-4, 1e-9);  // clamped after the end
  const train::LearningRateSchedule no_warmup{2e-3, 0, 4, 0.0};
  BOOST_CHECK_CLOSE(no_warmup.at(0), 2e-3, 1e-9);
  BOOST_CHECK_CLOSE(no_warmup.at(2), 1e-3, 1e-9);
}

BOOST_AUTO_TEST_CASE(pythia_checkpoint_steps) {
  train::CheckpointSchedule pythia;  // log-spaced up to 512, then every 1000
  const std::vector<std::int64_t> short_run = {0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 300};
  BOOST_CHECK(pythia.steps(300) == short_run);
  const auto long_run = pythia.steps(3500);
  const std::vector<std::int64_t> expected = {0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000, 2000, 3000, 3500};
  BOOST_CHECK(long_run == expected);
  // Pythia's 154 checkpoints: step0, 10 log-spaced (1..512) and 143 linear (1000..143000).
  BOOST_CHECK_EQUAL(pythia.steps(143000).size(), 154u);
}

BOOST_AUTO_TEST_CASE(fractions_and_extra_steps) {
  train::CheckpointSchedule s;
  s.log_spaced = false;
  s.every = 0;
  s.fractions = {0.1, 0.25, 0.5, 1.0};
  s.extra_steps = {7};
  const std::vector<std::int64_t> expected = {7, 30, 75, 150, 300};  // round(f * 300)
  BOOST_CHECK(s.steps(300) == expected);
  const auto f = s.fraction_steps(300);
  BOOST_CHECK_EQUAL(f.at(0.25), 75);
  BOOST_CHECK_EQUAL(train::fraction_name(0.1), "frac0.1");
  BOOST_CHECK_EQUAL(train::fraction_name(1.0), "frac1.0");  // as the engine renders ${f} for f = 1.0
  BOOST_CHECK_EQUAL(train::checkpoint_name(512), "step512");
  s.extra_steps = {301};
  BOOST_CHECK_THROW(s.steps(300), std::invalid_argument);
  s.extra_steps = {};
  s.fractions = {1.5};
  BOOST_CHECK_THROW(s.steps(300), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
