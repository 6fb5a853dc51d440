#include <boost/test/unit_test.hpp>

#include "biaslab/data/errors.hpp"
#include "biaslab/data/sha256.hpp"
#include "data/test_support.hpp"

using namespace biaslab::data;

BOOST_AUTO_TEST_SUITE(sha256)

// FIPS 180-2 test vectors.
BOOST_AUTO_TEST_CASE(known_vectors) {
  BOOST_TEST(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  BOOST_TEST(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  BOOST_TEST(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
             "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  Sha256 million;
  const std::string chunk(1000, 'a');
  for (int i = 0; i < 1000; ++i) million.update(chunk);
  BOOST_TEST(million.hex_digest() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  // The hasher resets after hex_digest().
  million.update("abc");
  BOOST_TEST(million.hex_digest() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

// The real CrowS-Pairs file against the sha256 recorded in shared/data/SHA256SUMS (sha256sum).
BOOST_AUTO_TEST_CASE(file_hash_matches_sha256sum) {
  const auto csv = test::shared_data_dir() / "crows_pairs" / "crows_pairs_anonymized.csv";
  BOOST_TEST(sha256_file(csv) == "dfb36986ce0502abbaf7055b9176da3d08d48e07df1251991b5dfbcbceab9d0c");
  BOOST_CHECK_THROW(sha256_file(test::shared_data_dir() / "no_such_file"), DataError);
}

BOOST_AUTO_TEST_CASE(hex_check) {
  BOOST_TEST(is_sha256_hex("dfb36986ce0502abbaf7055b9176da3d08d48e07df1251991b5dfbcbceab9d0c"));
  BOOST_TEST(!is_sha256_hex("DFB36986CE0502ABBAF7055B9176DA3D08D48E07DF1251991B5DFBCBCEAB9D0C"));
  BOOST_TEST(!is_sha256_hex("dfb36986"));
  BOOST_TEST(!is_sha256_hex("gfb36986ce0502abbaf7055b9176da3d08d48e07df1251991b5dfbcbceab9d0c"));
}

BOOST_AUTO_TEST_SUITE_END()
