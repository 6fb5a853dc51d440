#define BOOST_TEST_MODULE biaslab metric plugins
#include <boost/test/unit_test.hpp>

#include "metric_test_support.hpp"

// Keeps the data manager's verification cache out of the user's ~/.cache.
struct MetricTestEnvironment {
  MetricTestEnvironment() { metric_test::isolate_data_cache(); }
  ~MetricTestEnvironment() { metric_test::remove_temp_dirs(); }
};
BOOST_TEST_GLOBAL_FIXTURE(MetricTestEnvironment);
