#define BOOST_TEST_MODULE biaslab_runtime
#include <boost/test/unit_test.hpp>
