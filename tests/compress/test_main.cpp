#define BOOST_TEST_MODULE test_compress
#include <boost/test/unit_test.hpp>
