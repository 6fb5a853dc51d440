#pragma once
// Internal libcurl helpers shared by the downloader and the Hub client: one-time global init,
// RAII handles, response-header parsing, small in-memory requests (HEAD, JSON GET) and the
// mapping of HTTP error statuses to exceptions.
#include <curl/curl.h>

#include <chrono>
#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace biaslab::data::detail {

void ensure_curl_initialized();

// Owns a CURL easy handle.
class CurlEasy {
 public:
  CurlEasy();
  ~CurlEasy();
  CurlEasy(const CurlEasy&) = delete;
  CurlEasy& operator=(const CurlEasy&) = delete;
  CURL* get() const noexcept { return handle_; }

 private:
  CURL* handle_;
};

// Owns a curl_slist of request headers.
class CurlHeaderList {
 public:
  CurlHeaderList() = default;
  ~CurlHeaderList();
  CurlHeaderList(const CurlHeaderList&) = delete;
  CurlHeaderList& operator=(const CurlHeaderList&) = delete;
  void append(const std::string& line);
  curl_slist* get() const noexcept { return list_; }

 private:
  curl_slist* list_ = nullptr;
};

// Collects the status and headers of the last response (a new "HTTP/" status line, e.g. after a
// followed redirect, starts over). Header names are stored lower-case.
struct ResponseHeaders {
  long status = 0;
  std::map<std::string, std::string> fields;
  std::string get(std::string_view lower_case_name) const;
  void feed_line(std::string_view line);
};
size_t collect_header_line(char* buffer, size_t size, size_t count, void* response_headers);

struct HttpRequest {
  std::string method = "GET";  // GET or HEAD
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::string bearer_token;
  bool follow_redirects = true;
  std::chrono::seconds connect_timeout{30};
  std::chrono::seconds total_timeout{60};
  std::size_t max_body_bytes = 64u << 20;  // larger bodies are an error (hostile servers)
};

struct HttpResponse {
  long status = 0;
  std::string effective_url;
  ResponseHeaders headers;
  std::string body;
};

// Performs the request; throws DownloadError for transport failures (not for HTTP statuses).
HttpResponse http_request(const HttpRequest& request);

// Throws NotFoundError for 404 and DownloadError for other statuses >= 400, with a message naming
// the URL, the status and (trimmed) the server's explanation.
[[noreturn]] void throw_http_status(long status, const std::string& url, std::string_view body,
                                    bool token_sent, std::string_view server_message = {});

// Applies the shared options (timeouts, redirects, user agent, token) to an easy handle.
void apply_common_options(CURL* curl, const std::string& url, bool follow_redirects,
                          std::chrono::seconds connect_timeout, std::chrono::seconds total_timeout);

std::string user_agent();

}  // namespace biaslab::data::detail
