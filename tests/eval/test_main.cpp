#define BOOST_TEST_MODULE biaslab_eval
#include <boost/test/unit_test.hpp>
