#include <boost/test/unit_test.hpp>

#include "biaslab/data/download.hpp"
#include "biaslab/data/errors.hpp"
#include "biaslab/data/sha256.hpp"
#include "data/test_support.hpp"

using namespace biaslab::data;
namespace fs = std::filesystem;

namespace {

DownloadOptions quiet_options() {
  DownloadOptions options;
  options.progress_bar = ProgressBar::Never;
  options.retry_delay = std::chrono::milliseconds(0);
  options.connect_timeout = std::chrono::seconds(5);
  options.stall_timeout = std::chrono::seconds(10);
  return options;
}

// 300,000 pseudo-random bytes and their sha256.
struct Payload {
  std::shared_ptr<std::string> bytes = std::make_shared<std::string>(test::make_bytes(300000, 7));
  std::string sha256 = sha256_hex(*bytes);
};

}  // namespace

BOOST_AUTO_TEST_SUITE(download)

BOOST_AUTO_TEST_CASE(downloads_verifies_and_captures_etag) {
  Payload payload;
  test::TestServer server;
  test::serve_bytes(server.http(), "/file.bin", payload.bytes, std::nullopt, std::make_shared<int>(0), "W/\"etag-123\"");
  server.start();
  test::TempDir dir;
  auto options = quiet_options();
  options.expected_sha256 = payload.sha256;
  options.expected_size = payload.bytes->size();
  std::vector<std::uint64_t> seen;
  options.progress = [&](const DownloadProgress& p) {
    seen.push_back(p.downloaded);
    BOOST_TEST((p.total && *p.total == 300000u));
  };
  const auto result = download_file(server.url("/file.bin"), dir / "sub/file.bin", options);
  BOOST_TEST(test::read_file(dir / "sub/file.bin") == *payload.bytes);
  BOOST_TEST(result.sha256 == payload.sha256);
  BOOST_TEST(result.size == 300000u);
  BOOST_TEST(result.etag == "etag-123");
  BOOST_TEST(result.http_status == 200);
  BOOST_TEST(result.transfers == 1);
  BOOST_TEST(result.resumed_from == 0u);
  BOOST_TEST(!fs::exists(dir / "sub/file.bin.part"));
  BOOST_REQUIRE(!seen.empty());
  BOOST_TEST(seen.back() == 300000u);
  BOOST_TEST(std::is_sorted(seen.begin(), seen.end()));
}

BOOST_AUTO_TEST_CASE(sha256_mismatch_is_reported_and_nothing_is_kept) {
  Payload payload;
  test::TestServer server;
  test::serve_bytes(server.http(), "/file.bin", payload.bytes);
  server.start();
  test::TempDir dir;
  auto options = quiet_options();
  options.expected_sha256 = std::string(64, 'a');
  const std::string url = server.url("/file.bin");
  const fs::path destination = dir / "file.bin";
  try {
    download_file(url, destination, options);
    BOOST_FAIL("expected a ChecksumError");
  } catch (const ChecksumError& error) {
    BOOST_TEST(std::string(error.what()) ==
               "sha256 mismatch for " + url + ": expected " + std::string(64, 'a') + ", got " + payload.sha256 +
                   " (300000 bytes; destination " + destination.string() + "; the download was discarded)");
  }
  BOOST_TEST(!fs::exists(destination));
  BOOST_TEST(!fs::exists(dir / "file.bin.part"));
}

BOOST_AUTO_TEST_CASE(size_mismatch_is_reported) {
  Payload payload;
  test::TestServer server;
  test::serve_bytes(server.http(), "/file.bin", payload.bytes);
  server.start();
  test::TempDir dir;
  auto options = quiet_options();
  options.expected_size = 299999;  // one byte less than the server sends
  try {
    download_file(server.url("/file.bin"), dir / "f", options);
    BOOST_FAIL("expected a ChecksumError");
  } catch (const ChecksumError& error) {
    BOOST_TEST(std::string(error.what()).find("size mismatch for " + server.url("/file.bin") +
                                              ": expected 299999 bytes, got 300000") == 0);
  }
  BOOST_TEST(!fs::exists(dir / "f"));
}

BOOST_AUTO_TEST_CASE(not_found_gives_clear_error) {
  test::TestServer server;
  server.start();  // no routes: every path is 404
  test::TempDir dir;
  const std::string url = server.url("/missing.csv");
  try {
    download_file(url, dir / "missing.csv", quiet_options());
    BOOST_FAIL("expected a NotFoundError");
  } catch (const NotFoundError& error) {
    BOOST_TEST(std::string(error.what()) == "not found: " + url + " (HTTP 404)");
    BOOST_TEST(error.http_status() == 404);
    BOOST_TEST(error.url() == url);
  }
  BOOST_TEST(!fs::exists(dir / "missing.csv"));
  BOOST_TEST(server.count("GET", "/missing.csv") == 1u);  // 404 is not retried
}

BOOST_AUTO_TEST_CASE(server_error_is_retried_then_reported) {
  auto remaining_failures = std::make_shared<int>(1);
  test::TestServer server;
  server.http().Get("/flaky", [remaining_failures](const httplib::Request&, httplib::Response& response) {
    if (*remaining_failures > 0) {
      --*remaining_failures;
      response.status = 503;
      response.set_content("try later", "text/plain");
      return;
    }
    response.set_content("payload", "text/plain");
  });
  server.http().Get("/broken", [](const httplib::Request&, httplib::Response& response) {
    response.status = 500;
    response.set_content("database on fire", "text/plain");
  });
  server.start();
  test::TempDir dir;
  auto options = quiet_options();
  options.max_attempts = 2;
  const auto result = download_file(server.url("/flaky"), dir / "flaky", options);
  BOOST_TEST(result.transfers == 2);
  BOOST_TEST(test::read_file(dir / "flaky") == "payload");
  try {
    download_file(server.url("/broken"), dir / "broken", options);
    BOOST_FAIL("expected a DownloadError");
  } catch (const DownloadError& error) {
    BOOST_TEST(std::string(error.what()) == "HTTP 500 for " + server.url("/broken") + ": database on fire");
    BOOST_TEST(error.http_status() == 500);
  }
  BOOST_TEST(server.count("GET", "/broken") == 2u);
  BOOST_TEST(!fs::exists(dir / "broken"));
  BOOST_TEST(!fs::exists(dir / "broken.part"));  // error bodies never reach the partial file
}

// The server drops the connection after 100,000 bytes the first time. With one transfer per call
// the call fails and keeps the partial file; the next call resumes it with a Range request.
BOOST_AUTO_TEST_CASE(interrupted_download_resumes_in_next_call) {
  Payload payload;
  test::TestServer server;
  test::serve_bytes(server.http(), "/big.bin", payload.bytes, 100000, std::make_shared<int>(1));
  server.start();
  test::TempDir dir;
  auto options = quiet_options();
  options.expected_sha256 = payload.sha256;
  options.max_attempts = 1;
  const std::string url = server.url("/big.bin");
  try {
    download_file(url, dir / "big.bin", options);
    BOOST_FAIL("expected a DownloadError");
  } catch (const DownloadError& error) {
    const std::string message = error.what();
    BOOST_TEST(message.find("download of " + url + " to " + (dir / "big.bin").string() + " failed after 1 transfer(s): ") == 0);
    BOOST_TEST(message.find("100000 bytes are kept in " + (dir / "big.bin.part").string() +
                            " and the next attempt resumes from there") != std::string::npos);
  }
  BOOST_TEST(!fs::exists(dir / "big.bin"));
  BOOST_REQUIRE(fs::exists(dir / "big.bin.part"));
  BOOST_TEST(fs::file_size(dir / "big.bin.part") == 100000u);

  const auto result = download_file(url, dir / "big.bin", options);
  BOOST_TEST(result.resumed_from == 100000u);
  BOOST_TEST(result.http_status == 206);
  BOOST_TEST(result.sha256 == payload.sha256);
  BOOST_TEST(test::read_file(dir / "big.bin") == *payload.bytes);
  BOOST_TEST(!fs::exists(dir / "big.bin.part"));
  const auto log = server.log();
  BOOST_REQUIRE(log.size() == 2u);
  BOOST_TEST(log[0].range == "");
  BOOST_TEST(log[1].range == "bytes=100000-");
  BOOST_TEST(log[1].status == 206);
}

BOOST_AUTO_TEST_CASE(interrupted_download_resumes_within_one_call) {
  Payload payload;
  test::TestServer server;
  test::serve_bytes(server.http(), "/big.bin", payload.bytes, 123457, std::make_shared<int>(1));
  server.start();
  test::TempDir dir;
  auto options = quiet_options();
  options.expected_sha256 = payload.sha256;
  options.max_attempts = 3;
  const auto result = download_file(server.url("/big.bin"), dir / "big.bin", options);
  BOOST_TEST(result.transfers == 2);
  BOOST_TEST(result.resumed_from == 0u);
  BOOST_TEST(test::read_file(dir / "big.bin") == *payload.bytes);
  const auto log = server.log();
  BOOST_REQUIRE(log.size() == 2u);
  BOOST_TEST(log[1].range == "bytes=123457-");
}

// A server that ignores Range (full body, status 200): the partial file is emptied and rewritten.
// A server that answers 206 without a matching Content-Range: the client starts over without Range.
BOOST_AUTO_TEST_CASE(server_ignoring_range_restarts_from_zero) {
  Payload payload;
  test::TestServer server;
  auto chunked = [&payload](int status) {
    return [bytes = payload.bytes, status](const httplib::Request&, httplib::Response& response) {
      if (status != 0) response.status = status;
      response.set_chunked_content_provider("application/octet-stream", [bytes](size_t offset, httplib::DataSink& sink) {
        const size_t n = std::min<size_t>(65536, bytes->size() - offset);
        sink.write(bytes->data() + offset, n);
        if (offset + n == bytes->size()) sink.done();
        return true;
      });
    };
  };
  server.http().Get("/norange", chunked(200));
  server.http().Get("/badrange", chunked(0));  // httplib then answers 206 without Content-Range
  server.start();
  test::TempDir dir;
  auto options = quiet_options();
  options.expected_sha256 = payload.sha256;

  test::write_file(dir / "f.part", "garbage that must not survive");
  const auto ignored = download_file(server.url("/norange"), dir / "f", options);
  BOOST_TEST(ignored.resumed_from == 29u);
  BOOST_TEST(ignored.http_status == 200);
  BOOST_TEST(ignored.transfers == 1);
  BOOST_TEST(test::read_file(dir / "f") == *payload.bytes);
  BOOST_TEST(server.log().at(0).range == "bytes=29-");

  test::write_file(dir / "g.part", "garbage that must not survive");
  const auto restarted = download_file(server.url("/badrange"), dir / "g", options);
  BOOST_TEST(restarted.transfers == 2);
  BOOST_TEST(restarted.http_status == 200);
  BOOST_TEST(test::read_file(dir / "g") == *payload.bytes);
  const auto log = server.log();
  BOOST_REQUIRE(log.size() == 3u);
  BOOST_TEST(log[1].range == "bytes=29-");
  BOOST_TEST(log[2].range == "");
}

// A stale partial file with wrong bytes is caught by the sha256 check; the next call starts clean.
BOOST_AUTO_TEST_CASE(corrupt_partial_file_fails_checksum_then_recovers) {
  Payload payload;
  test::TestServer server;
  test::serve_bytes(server.http(), "/big.bin", payload.bytes);
  server.start();
  test::TempDir dir;
  test::write_file(dir / "big.bin.part", std::string(5000, 'x'));
  auto options = quiet_options();
  options.expected_sha256 = payload.sha256;
  BOOST_CHECK_THROW(download_file(server.url("/big.bin"), dir / "big.bin", options), ChecksumError);
  BOOST_TEST(!fs::exists(dir / "big.bin.part"));
  download_file(server.url("/big.bin"), dir / "big.bin", options);
  BOOST_TEST(test::read_file(dir / "big.bin") == *payload.bytes);
}

BOOST_AUTO_TEST_CASE(bearer_token_and_headers_are_sent) {
  test::TestServer server;
  std::string seen_custom;
  server.http().Get("/private", [&seen_custom](const httplib::Request& request, httplib::Response& response) {
    seen_custom = request.get_header_value("X-Custom");
    if (request.get_header_value("Authorization") != "Bearer s3cret") {
      response.status = 401;
      return;
    }
    response.set_content("secret data", "text/plain");
  });
  server.start();
  test::TempDir dir;
  auto options = quiet_options();
  try {
    download_file(server.url("/private"), dir / "p", options);
    BOOST_FAIL("expected a DownloadError");
  } catch (const DownloadError& error) {
    BOOST_TEST(std::string(error.what()) == "access denied (HTTP 401) for " + server.url("/private") + "; no token was sent");
  }
  options.bearer_token = "s3cret";
  options.headers = {"X-Custom: 42"};
  download_file(server.url("/private"), dir / "p", options);
  BOOST_TEST(test::read_file(dir / "p") == "secret data");
  BOOST_TEST(seen_custom == "42");
  BOOST_TEST(server.log().back().authorization == "Bearer s3cret");
}

BOOST_AUTO_TEST_CASE(redirects_are_followed) {
  test::TestServer server;
  server.http().Get("/old", [](const httplib::Request&, httplib::Response& response) { response.set_redirect("/new", 302); });
  server.http().Get("/new", [](const httplib::Request&, httplib::Response& response) { response.set_content("moved", "text/plain"); });
  server.start();
  test::TempDir dir;
  const auto result = download_file(server.url("/old"), dir / "r", quiet_options());
  BOOST_TEST(test::read_file(dir / "r") == "moved");
  BOOST_TEST(result.effective_url == server.url("/new"));
  BOOST_TEST(result.sha256 == sha256_hex("moved"));
}

BOOST_AUTO_TEST_CASE(offline_mode_refuses_the_network) {
  test::TestServer server;
  server.start();
  test::TempDir dir;
  auto options = quiet_options();
  options.offline = true;
  const std::string url = server.url("/x");
  try {
    download_file(url, dir / "x", options);
    BOOST_FAIL("expected an OfflineError");
  } catch (const OfflineError& error) {
    BOOST_TEST(std::string(error.what()) == "offline mode: refusing to download " + url + " to " + (dir / "x").string());
  }
  BOOST_TEST(server.log().empty());
}

BOOST_AUTO_TEST_CASE(connection_refused_is_a_download_error) {
  int port = 0;
  {
    test::TestServer server;  // bind and release a port, so nothing listens there any more
    server.start();
    port = std::stoi(server.origin().substr(server.origin().rfind(':') + 1));
  }
  test::TempDir dir;
  auto options = quiet_options();
  options.max_attempts = 2;
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/x";
  try {
    download_file(url, dir / "x", options);
    BOOST_FAIL("expected a DownloadError");
  } catch (const DownloadError& error) {
    BOOST_TEST(std::string(error.what()).find("download of " + url + " to " + (dir / "x").string() + " failed after 2 transfer(s): ") == 0);
    BOOST_TEST(error.http_status() == 0);
  }
}

BOOST_AUTO_TEST_CASE(helpers) {
  BOOST_TEST(normalize_etag("W/\"abc\"") == "abc");
  BOOST_TEST(normalize_etag("\"abc\"") == "abc");
  BOOST_TEST(normalize_etag("abc") == "abc");
  // Python: quote("refs/pr/1", safe="") == "refs%2Fpr%2F1"; quote("a b/c+d.json") == "a%20b/c%2Bd.json"
  BOOST_TEST(url_quote("refs/pr/1", "") == "refs%2Fpr%2F1");
  BOOST_TEST(url_quote("a b/c+d.json") == "a%20b/c%2Bd.json");
  BOOST_TEST(url_quote("~x_y-z.1") == "~x_y-z.1");
  {
    test::ScopedEnv on("BIASLAB_TEST_FLAG", "yes");
    BOOST_TEST(env_flag("BIASLAB_TEST_FLAG"));
  }
  {
    test::ScopedEnv off("BIASLAB_TEST_FLAG", "0");
    BOOST_TEST(!env_flag("BIASLAB_TEST_FLAG"));
  }
  test::ScopedEnv unset("BIASLAB_TEST_FLAG", std::nullopt);
  BOOST_TEST(!env_flag("BIASLAB_TEST_FLAG"));
}

BOOST_AUTO_TEST_SUITE_END()
