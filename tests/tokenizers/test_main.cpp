#define BOOST_TEST_MODULE tokenizers
#include <boost/test/unit_test.hpp>
