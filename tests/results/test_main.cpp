#define BOOST_TEST_MODULE test_results
#include <boost/test/unit_test.hpp>
