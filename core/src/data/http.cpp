#include "data/http.hpp"

#include <algorithm>
#include <cctype>
#include <mutex>

#include "biaslab/data/errors.hpp"

namespace biaslab::data::detail {

void ensure_curl_initialized() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) throw DataError("libcurl: curl_global_init failed");
  });
}

CurlEasy::CurlEasy() {
  ensure_curl_initialized();
  handle_ = curl_easy_init();
  if (handle_ == nullptr) throw DataError("libcurl: curl_easy_init failed");
}
CurlEasy::~CurlEasy() { curl_easy_cleanup(handle_); }

CurlHeaderList::~CurlHeaderList() { curl_slist_free_all(list_); }
void CurlHeaderList::append(const std::string& line) {
  curl_slist* next = curl_slist_append(list_, line.c_str());
  if (next == nullptr) throw DataError("libcurl: out of memory building request headers");
  list_ = next;
}

std::string ResponseHeaders::get(std::string_view lower_case_name) const {
  auto it = fields.find(std::string(lower_case_name));
  return it == fields.end() ? std::string() : it->second;
}

void ResponseHeaders::feed_line(std::string_view line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.substr(0, 5) == "HTTP/") {
    fields.clear();
    status = 0;
    auto space = line.find(' ');
    if (space != std::string_view::npos) {
      long code = 0;
      for (std::size_t i = space + 1; i < line.size() && std::isdigit(static_cast<unsigned char>(line[i])); ++i)
        code = code * 10 + (line[i] - '0');
      status = code;
    }
    return;
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return;
  std::string name(line.substr(0, colon));
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  fields[name] = std::string(value);  // repeated headers: the last one wins
}

size_t collect_header_line(char* buffer, size_t size, size_t count, void* response_headers) {
  static_cast<ResponseHeaders*>(response_headers)->feed_line(std::string_view(buffer, size * count));
  return size * count;
}

std::string user_agent() { return "biaslab/0.1 (libcurl)"; }

void apply_common_options(CURL* curl, const std::string& url, bool follow_redirects,
                          std::chrono::seconds connect_timeout, std::chrono::seconds total_timeout) {
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, user_agent().c_str());
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, follow_redirects ? 1L : 0L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
  // Only http(s) for the first request and for redirects (no file://, ftp:// surprises).
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, static_cast<long>(connect_timeout.count()));
  if (total_timeout.count() > 0) curl_easy_setopt(curl, CURLOPT_TIMEOUT, static_cast<long>(total_timeout.count()));
}

namespace {

struct BodySink {
  std::string* body;
  std::size_t limit;
  bool overflow = false;
};

size_t append_body(char* data, size_t size, size_t count, void* user) {
  auto* sink = static_cast<BodySink*>(user);
  const size_t n = size * count;
  if (sink->body->size() + n > sink->limit) {
    sink->overflow = true;
    return 0;  // aborts the transfer
  }
  sink->body->append(data, n);
  return n;
}

std::string trim_for_message(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 300)) out.push_back((c == '\n' || c == '\r' || c == '\t') ? ' ' : c);
  while (!out.empty() && out.back() == ' ') out.pop_back();
  if (text.size() > 300) out += "...";
  return out;
}

}  // namespace

HttpResponse http_request(const HttpRequest& request) {
  CurlEasy curl;
  HttpResponse response;
  apply_common_options(curl.get(), request.url, request.follow_redirects, request.connect_timeout,
                       request.total_timeout);
  CurlHeaderList headers;
  for (const auto& line : request.headers) headers.append(line);
  if (!request.bearer_token.empty()) headers.append("Authorization: Bearer " + request.bearer_token);
  curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers.get());
  if (request.method == "HEAD") {
    curl_easy_setopt(curl.get(), CURLOPT_NOBODY, 1L);
  } else if (request.method != "GET") {
    throw DataError("http_request: unsupported method " + request.method);
  }
  BodySink sink{&response.body, request.max_body_bytes};
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, append_body);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(curl.get(), CURLOPT_HEADERFUNCTION, collect_header_line);
  curl_easy_setopt(curl.get(), CURLOPT_HEADERDATA, &response.headers);
  char error_buffer[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl.get(), CURLOPT_ERRORBUFFER, error_buffer);

  const CURLcode code = curl_easy_perform(curl.get());
  if (sink.overflow)
    throw DownloadError(request.method + " " + request.url + ": response body larger than " +
                            std::to_string(request.max_body_bytes) + " bytes",
                        request.url);
  if (code != CURLE_OK) {
    std::string detail = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(code);
    throw DownloadError(request.method + " " + request.url + " failed: " + detail, request.url);
  }
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &response.status);
  char* effective = nullptr;
  curl_easy_getinfo(curl.get(), CURLINFO_EFFECTIVE_URL, &effective);
  response.effective_url = effective != nullptr ? effective : request.url;
  return response;
}

void throw_http_status(long status, const std::string& url, std::string_view body, bool token_sent,
                       std::string_view server_message) {
  std::string detail(server_message.empty() ? trim_for_message(body) : trim_for_message(server_message));
  if (status == 404) {
    std::string message = "not found: " + url + " (HTTP 404)";
    if (!server_message.empty()) message += ": " + detail;
    throw NotFoundError(message, url);
  }
  std::string message;
  if (status == 401 || status == 403) {
    message = "access denied (HTTP " + std::to_string(status) + ") for " + url +
              (token_sent ? "; a bearer token was sent but refused" : "; no token was sent");
  } else {
    message = "HTTP " + std::to_string(status) + " for " + url;
  }
  if (!detail.empty()) message += ": " + detail;
  throw DownloadError(message, url, status);
}

}  // namespace biaslab::data::detail
