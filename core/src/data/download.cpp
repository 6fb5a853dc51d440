#include "biaslab/data/download.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <memory>
#include <thread>

#include "biaslab/data/errors.hpp"
#include "biaslab/data/sha256.hpp"
#include "data/http.hpp"

namespace biaslab::data {

std::string normalize_etag(std::string_view etag) {
  if (etag.substr(0, 2) == "W/") etag.remove_prefix(2);
  while (!etag.empty() && etag.front() == '"') etag.remove_prefix(1);
  while (!etag.empty() && etag.back() == '"') etag.remove_suffix(1);
  return std::string(etag);
}

std::string url_quote(std::string_view text, std::string_view safe) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || safe.find(static_cast<char>(c)) != std::string_view::npos) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0x0f]);
    }
  }
  return out;
}

bool env_flag(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr) return false;
  std::string upper(value);
  std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
  return upper == "1" || upper == "ON" || upper == "YES" || upper == "TRUE";
}

namespace {

std::string human_bytes(double bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (bytes >= 1024.0 && unit < 4) {
    bytes /= 1024.0;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.1f %s", bytes, kUnits[unit]);
  return text;
}

// A one-line progress bar on stderr, redrawn at most ten times a second.
class StderrProgressBar {
 public:
  StderrProgressBar(std::string label, bool enabled) : label_(std::move(label)), enabled_(enabled) {
    if (label_.size() > 32) label_ = "..." + label_.substr(label_.size() - 29);
  }
  ~StderrProgressBar() { finish(); }

  void draw(std::uint64_t done, std::optional<std::uint64_t> total, bool force = false) {
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    if (!force && drawn_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
    if (!drawn_) {
      start_ = now;
      first_done_ = done;
    }
    last_draw_ = now;
    drawn_ = true;
    const double seconds = std::chrono::duration<double>(now - start_).count();
    std::string line = "\r" + label_ + "  ";
    if (total && *total > 0) {
      const double fraction = std::min(1.0, static_cast<double>(done) / static_cast<double>(*total));
      const int width = 24;
      const int filled = static_cast<int>(fraction * width);
      line += "[" + std::string(filled, '#') + std::string(width - filled, '.') + "] ";
      char percent[8];
      std::snprintf(percent, sizeof percent, "%3d%% ", static_cast<int>(fraction * 100));
      line += percent + human_bytes(static_cast<double>(done)) + " / " + human_bytes(static_cast<double>(*total));
    } else {
      line += human_bytes(static_cast<double>(done));
    }
    if (seconds > 0.5) line += "  " + human_bytes(static_cast<double>(done - first_done_) / seconds) + "/s";
    line += "\x1b[K";
    std::fputs(line.c_str(), stderr);
    std::fflush(stderr);
  }

  void finish() {
    if (enabled_ && drawn_) {
      std::fputs("\n", stderr);
      std::fflush(stderr);
    }
    drawn_ = false;
    enabled_ = false;
  }

 private:
  std::string label_;
  bool enabled_;
  bool drawn_ = false;
  std::uint64_t first_done_ = 0;
  std::chrono::steady_clock::time_point start_{}, last_draw_{};
};

struct FileCloser {
  void operator()(std::FILE* file) const { std::fclose(file); }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

// State of one HTTP transfer appended to the partial file.
struct Transfer {
  std::FILE* file = nullptr;
  Sha256* hasher = nullptr;
  std::uint64_t offset = 0;  // bytes already in the partial file (0 after a restart)
  const std::string* url = nullptr;
  const DownloadOptions* options = nullptr;
  StderrProgressBar* bar = nullptr;
  std::optional<std::uint64_t> expected_size;

  detail::ResponseHeaders headers;
  bool body_started = false;
  bool accepted = false;        // 200/206: bytes go to the file
  bool restarted = false;       // the server ignored the Range request; the partial file was emptied
  bool range_mismatch = false;  // 206 for another range than asked
  bool write_failed = false;
  int write_errno = 0;
  std::uint64_t written = 0;
  std::string error_body;  // body of an error response, for the message
  std::exception_ptr callback_error;
};

// "bytes 100-199/1000" -> 100; "bytes */1000" -> nullopt.
std::optional<std::uint64_t> content_range_start(std::string_view value) {
  auto space = value.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  value.remove_prefix(space + 1);
  if (value.empty() || !std::isdigit(static_cast<unsigned char>(value.front()))) return std::nullopt;
  std::uint64_t start = 0;
  for (char c : value) {
    if (!std::isdigit(static_cast<unsigned char>(c))) break;
    start = start * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return start;
}

// "bytes */1000" or "bytes 0-9/1000" -> 1000.
std::optional<std::uint64_t> content_range_total(std::string_view value) {
  auto slash = value.rfind('/');
  if (slash == std::string_view::npos || slash + 1 >= value.size()) return std::nullopt;
  std::uint64_t total = 0;
  for (char c : value.substr(slash + 1)) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    total = total * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return total;
}

bool truncate_partial(Transfer& t) {
  std::fflush(t.file);
  if (::ftruncate(::fileno(t.file), 0) != 0) {
    t.write_failed = true;
    t.write_errno = errno;
    return false;
  }
  t.hasher->reset();
  t.offset = 0;
  t.restarted = true;
  return true;
}

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto& t = *static_cast<Transfer*>(user);
  const size_t bytes = size * count;
  if (!t.body_started) {
    t.body_started = true;
    const long status = t.headers.status;
    if (status == 206) {
      const auto start = content_range_start(t.headers.get("content-range"));
      if (!start || *start != t.offset) {
        t.range_mismatch = true;
        return 0;
      }
      t.accepted = true;
    } else if (status == 200) {
      if (t.offset > 0 && !truncate_partial(t)) return 0;  // server ignored Range: start over
      t.accepted = true;
    }
  }
  if (!t.accepted) {
    if (t.error_body.size() < 4096) t.error_body.append(data, std::min(bytes, 4096 - t.error_body.size()));
    return bytes;
  }
  if (std::fwrite(data, 1, bytes, t.file) != bytes) {
    t.write_failed = true;
    t.write_errno = errno;
    return 0;
  }
  t.hasher->update(data, bytes);
  t.written += bytes;
  return bytes;
}

int on_progress(void* user, curl_off_t download_total, curl_off_t downloaded, curl_off_t, curl_off_t) {
  auto& t = *static_cast<Transfer*>(user);
  if (!t.accepted) return 0;
  const std::uint64_t done = t.offset + static_cast<std::uint64_t>(downloaded);
  std::optional<std::uint64_t> total = t.expected_size;
  if (download_total > 0) total = t.offset + static_cast<std::uint64_t>(download_total);
  t.bar->draw(done, total);
  if (t.options->progress) {
    try {
      t.options->progress(DownloadProgress{done, total, *t.url});
    } catch (...) {
      t.callback_error = std::current_exception();
      return 1;  // aborts the transfer; rethrown after curl returns
    }
  }
  return 0;
}

void hash_existing(const std::filesystem::path& file, std::uint64_t bytes, Sha256& hasher) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw DataError("cannot read partial download " + file.string());
  std::string buffer(1 << 20, '\0');
  std::uint64_t left = bytes;
  while (left > 0 && in) {
    in.read(buffer.data(), static_cast<std::streamsize>(std::min<std::uint64_t>(left, buffer.size())));
    const auto got = static_cast<std::uint64_t>(in.gcount());
    hasher.update(buffer.data(), got);
    left -= got;
  }
  if (left != 0) throw DataError("cannot read partial download " + file.string());
}

bool retryable_status(long status) { return status == 429 || status == 500 || status == 502 || status == 503 || status == 504; }

std::uint64_t size_or_zero(const std::filesystem::path& path) {
  std::error_code error;
  const auto size = std::filesystem::file_size(path, error);
  return error ? 0 : size;
}

void remove_if_empty(const std::filesystem::path& path) {
  std::error_code error;
  if (std::filesystem::file_size(path, error) == 0 && !error) std::filesystem::remove(path, error);
}

}  // namespace

DownloadResult download_file(const std::string& url, const std::filesystem::path& destination,
                             const DownloadOptions& options) {
  if (options.offline)
    throw OfflineError("offline mode: refusing to download " + url + " to " + destination.string());
  if (!options.expected_sha256.empty() && !is_sha256_hex(options.expected_sha256))
    throw DataError("download of " + url + ": expected sha256 '" + options.expected_sha256 +
                    "' is not 64 lower-case hex digits");
  const std::filesystem::path partial =
      options.partial_path.empty() ? std::filesystem::path(destination.string() + ".part") : options.partial_path;
  std::filesystem::create_directories(destination.parent_path());
  std::filesystem::create_directories(partial.parent_path());
  if (!options.resume) std::filesystem::remove(partial);

  const bool tty = ::isatty(STDERR_FILENO) != 0;
  StderrProgressBar bar(options.label.empty() ? destination.filename().string() : options.label,
                        options.progress_bar == ProgressBar::Always || (options.progress_bar == ProgressBar::Auto && tty));

  DownloadResult result;
  result.path = destination;
  const int max_attempts = std::max(1, options.max_attempts);
  Sha256 hasher;
  bool complete = false;
  for (int attempt = 1; !complete; ++attempt) {
    const bool last_attempt = attempt >= max_attempts;
    std::uint64_t offset = size_or_zero(partial);
    if (options.expected_size && offset > *options.expected_size) {
      spdlog::warn("partial download {} is larger than the expected {} bytes; starting over", partial.string(),
                   *options.expected_size);
      std::filesystem::remove(partial);
      offset = 0;
    }
    hasher.reset();
    if (offset > 0) hash_existing(partial, offset, hasher);
    if (attempt == 1) result.resumed_from = offset;
    if (options.expected_size && offset == *options.expected_size && offset > 0) break;  // finished earlier

    FilePtr file(std::fopen(partial.c_str(), "ab"));
    if (!file) throw DataError("cannot open " + partial.string() + " for writing: " + std::strerror(errno));

    Transfer t;
    t.file = file.get();
    t.hasher = &hasher;
    t.offset = offset;
    t.url = &url;
    t.options = &options;
    t.bar = &bar;
    t.expected_size = options.expected_size;

    detail::CurlEasy curl;
    detail::apply_common_options(curl.get(), url, options.follow_redirects, options.connect_timeout,
                                 options.total_timeout);
    curl_easy_setopt(curl.get(), CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(curl.get(), CURLOPT_LOW_SPEED_TIME, static_cast<long>(std::max<long>(1, options.stall_timeout.count())));
    detail::CurlHeaderList headers;
    for (const auto& line : options.headers) headers.append(line);
    if (!options.bearer_token.empty()) headers.append("Authorization: Bearer " + options.bearer_token);
    curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers.get());
    const std::string range = std::to_string(offset) + "-";
    if (offset > 0) curl_easy_setopt(curl.get(), CURLOPT_RANGE, range.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(curl.get(), CURLOPT_HEADERFUNCTION, detail::collect_header_line);
    curl_easy_setopt(curl.get(), CURLOPT_HEADERDATA, &t.headers);
    curl_easy_setopt(curl.get(), CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl.get(), CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(curl.get(), CURLOPT_XFERINFODATA, &t);
    char error_buffer[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(curl.get(), CURLOPT_ERRORBUFFER, error_buffer);

    if (offset > 0) spdlog::debug("resuming {} at byte {}", url, offset);
    const CURLcode code = curl_easy_perform(curl.get());
    ++result.transfers;
    long status = t.headers.status;
    if (status == 0) curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
    result.http_status = status;
    char* effective = nullptr;
    curl_easy_getinfo(curl.get(), CURLINFO_EFFECTIVE_URL, &effective);
    result.effective_url = effective != nullptr ? effective : url;
    if (code == CURLE_OK && status == 200 && !t.body_started && offset > 0) truncate_partial(t);  // empty 200
    const bool flushed = std::fflush(file.get()) == 0 && ::fsync(::fileno(file.get())) == 0;
    file.reset();

    if (t.callback_error) std::rethrow_exception(t.callback_error);
    if (t.write_failed || (code == CURLE_OK && !flushed))
      throw DataError("cannot write " + partial.string() + ": " + std::strerror(t.write_errno != 0 ? t.write_errno : errno));

    if (code == CURLE_WRITE_ERROR && t.range_mismatch) {
      spdlog::warn("{} answered a Range request with '{}'; starting over", url, t.headers.get("content-range"));
      std::filesystem::remove(partial);
      if (last_attempt)
        throw DownloadError("download of " + url + " failed: the server answered the Range request 'bytes=" + range +
                                "' with Content-Range '" + t.headers.get("content-range") + "'",
                            url, status);
      continue;
    }
    if (code != CURLE_OK) {
      const std::string detail = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(code);
      const std::uint64_t kept = size_or_zero(partial);
      if (!last_attempt) {
        spdlog::warn("download of {} interrupted after {} bytes ({}); resuming (attempt {} of {})", url, kept, detail,
                     attempt + 1, max_attempts);
        std::this_thread::sleep_for(options.retry_delay);
        continue;
      }
      bar.finish();
      std::string message = "download of " + url + " to " + destination.string() + " failed after " +
                            std::to_string(result.transfers) + " transfer(s): " + detail;
      if (kept > 0) {
        message += "; " + std::to_string(kept) + " bytes are kept in " + partial.string() +
                   " and the next attempt resumes from there";
      } else {
        remove_if_empty(partial);
      }
      throw DownloadError(message, url, status);
    }
    if (status == 200 || status == 206) {
      result.etag = normalize_etag(t.headers.get("etag"));
      complete = true;
    } else if (status == 416 && offset > 0) {
      const auto total = content_range_total(t.headers.get("content-range"));
      if (total && *total == offset) {
        complete = true;  // the partial file already holds every byte
      } else {
        std::filesystem::remove(partial);
        if (last_attempt)
          throw DownloadError("download of " + url + " failed: HTTP 416 for Range 'bytes=" + range + "'", url, status);
      }
    } else if (retryable_status(status) && !last_attempt) {
      spdlog::warn("HTTP {} for {}; retrying (attempt {} of {})", status, url, attempt + 1, max_attempts);
      std::this_thread::sleep_for(options.retry_delay);
    } else {
      bar.finish();
      remove_if_empty(partial);  // an error status never adds bytes; keep resumable data only
      detail::throw_http_status(status, url, t.error_body, !options.bearer_token.empty());
    }
  }

  result.size = size_or_zero(partial);
  bar.draw(result.size, result.size, true);
  bar.finish();
  result.sha256 = hasher.hex_digest();
  if (options.expected_size && result.size != *options.expected_size) {
    std::filesystem::remove(partial);
    throw ChecksumError("size mismatch for " + url + ": expected " + std::to_string(*options.expected_size) +
                        " bytes, got " + std::to_string(result.size) + " (destination " + destination.string() +
                        "; the download was discarded)");
  }
  if (!options.expected_sha256.empty() && result.sha256 != options.expected_sha256) {
    std::filesystem::remove(partial);
    throw ChecksumError("sha256 mismatch for " + url + ": expected " + options.expected_sha256 + ", got " +
                        result.sha256 + " (" + std::to_string(result.size) + " bytes; destination " +
                        destination.string() + "; the download was discarded)");
  }
  std::error_code error;
  std::filesystem::rename(partial, destination, error);
  if (error)
    throw DataError("cannot move " + partial.string() + " to " + destination.string() + ": " + error.message());
  return result;
}

}  // namespace biaslab::data
