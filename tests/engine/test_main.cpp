#define BOOST_TEST_MODULE biaslab engine
#include <boost/test/unit_test.hpp>
