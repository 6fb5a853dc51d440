#pragma once
// Downloads one URL to one file with libcurl: atomic (bytes go to a partial file that is renamed
// into place only after the sha256/size check passed), resumable (an existing partial file is
// continued with an HTTP Range request, also after a dropped connection within one call),
// optional bearer token, timeouts, progress callback and a stderr progress bar on terminals.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "biaslab/export.hpp"

namespace biaslab::data {

struct DownloadProgress {
  std::uint64_t downloaded = 0;          // bytes in the partial file, including resumed ones
  std::optional<std::uint64_t> total;    // when the server (or expected_size) tells
  std::string_view url;
};
using ProgressCallback = std::function<void(const DownloadProgress&)>;

enum class ProgressBar { Auto, Never, Always };  // Auto: only when stderr is a terminal

struct DownloadOptions {
  std::string expected_sha256;                // lower-case hex; empty: not checked
  std::optional<std::uint64_t> expected_size; // checked when set
  std::string bearer_token;                   // "Authorization: Bearer ..." (libcurl drops it on redirects to other hosts)
  std::vector<std::string> headers;           // extra request headers, "Name: value"
  std::filesystem::path partial_path;         // default: "<destination>.part"
  bool resume = true;                         // false: discard an existing partial file first
  int max_attempts = 3;                       // transfers per call; a dropped connection resumes with Range
  std::chrono::milliseconds retry_delay{500};
  std::chrono::seconds connect_timeout{30};
  std::chrono::seconds stall_timeout{60};     // abort when no byte arrives for this long
  std::chrono::seconds total_timeout{0};      // 0: no limit
  bool follow_redirects = true;
  bool offline = false;                       // refuse the network: throws OfflineError
  ProgressCallback progress;
  ProgressBar progress_bar = ProgressBar::Auto;
  std::string label;                          // shown by the progress bar; default: destination file name
};

struct DownloadResult {
  std::filesystem::path path;                 // the destination
  std::uint64_t size = 0;
  std::string sha256;                         // of the complete file
  std::string etag;                           // normalised (no W/ prefix, no quotes); empty if none
  std::uint64_t resumed_from = 0;             // bytes of the partial file reused by the first transfer
  int transfers = 0;                          // HTTP GETs made
  long http_status = 0;                       // of the last transfer (200 or 206)
  std::string effective_url;                  // after redirects
};

// Downloads `url` to `destination` (parent folders are created). Throws OfflineError,
// NotFoundError (404: "not found: URL (HTTP 404)"), DownloadError (other statuses, transport
// errors; the partial file is kept for the next call) or ChecksumError (mismatch: the partial
// file is removed, the destination is untouched).
BIASLAB_API DownloadResult download_file(const std::string& url, const std::filesystem::path& destination,
                                         const DownloadOptions& options = {});

// "W/\"abc\"" -> "abc", "\"abc\"" -> "abc" (as huggingface_hub normalises ETag headers).
BIASLAB_API std::string normalize_etag(std::string_view etag);

// Percent-encodes everything except A-Z a-z 0-9 - _ . ~ and the characters in `safe`
// (Python's urllib.parse.quote).
BIASLAB_API std::string url_quote(std::string_view text, std::string_view safe = "/");

// True when the environment variable is 1/ON/YES/TRUE (any case), as huggingface_hub reads flags.
BIASLAB_API bool env_flag(const char* name);

}  // namespace biaslab::data
