#define BOOST_TEST_MODULE compressors
#include <boost/test/unit_test.hpp>
