#include "biaslab/data/hub.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "biaslab/data/errors.hpp"
#include "biaslab/data/sha256.hpp"
#include "data/fs_util.hpp"
#include "data/http.hpp"

namespace biaslab::data {

namespace fs = std::filesystem;

namespace {

bool is_commit_sha(std::string_view text) {
  if (text.size() != 40) return false;
  return std::all_of(text.begin(), text.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool is_word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// huggingface_hub's validate_repo_id: "name" or "namespace/name", [\w.-], word characters at the
// ends of each part, no "--" or "..", names of at most 96 characters.
void validate_repo_id(const std::string& repo_id) {
  auto fail = [&](const std::string& why) {
    throw DataError("invalid Hugging Face repo id '" + repo_id + "': " + why + " (expected 'name' or 'namespace/name')");
  };
  if (repo_id.find("--") != std::string::npos || repo_id.find("..") != std::string::npos) fail("'--' and '..' are not allowed");
  const auto slash = repo_id.find('/');
  std::vector<std::string_view> parts;
  if (slash == std::string::npos) {
    parts.push_back(repo_id);
  } else {
    parts.push_back(std::string_view(repo_id).substr(0, slash));
    parts.push_back(std::string_view(repo_id).substr(slash + 1));
  }
  for (std::string_view part : parts) {
    if (part.empty()) fail("empty part");
    if (part.size() > 96) fail("a part is longer than 96 characters");
    if (!is_word_char(part.front()) || !is_word_char(part.back())) fail("parts must start and end with a letter, digit or '_'");
    for (char c : part)
      if (!is_word_char(c) && c != '-' && c != '.') fail(std::string("character '") + c + "' is not allowed");
  }
}

void validate_revision(const std::string& revision) {
  if (!detail::is_safe_relative_path(revision))
    throw DataError("invalid revision '" + revision + "': must be a branch, tag or commit name without '..'");
}

void validate_repo_file(const std::string& repo_id, const std::string& filename) {
  if (!detail::is_safe_relative_path(filename))
    throw DataError("refusing file name '" + filename + "' of " + repo_id + ": not a safe relative path");
}

bool is_safe_etag(std::string_view etag) {
  if (etag.empty() || etag.size() > 128 || etag == "." || etag == "..") return false;
  return std::all_of(etag.begin(), etag.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'; });
}

std::optional<std::uint64_t> parse_size(const std::string& text) {
  if (text.empty() || text.size() > 19) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : text) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return value;
}

// "https://host:port/path" -> "https://host:port"
std::string url_origin(const std::string& url) {
  const auto scheme = url.find("://");
  if (scheme == std::string::npos) return {};
  const auto path = url.find('/', scheme + 3);
  return path == std::string::npos ? url : url.substr(0, path);
}

std::string strip_whitespace(std::string text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  std::size_t start = 0;
  while (start < text.size() && std::isspace(static_cast<unsigned char>(text[start]))) ++start;
  return text.substr(start);
}

fs::path hf_home() {
  if (auto home = detail::env_string("HF_HOME")) return *home;
  if (auto xdg = detail::env_string("XDG_CACHE_HOME")) return fs::path(*xdg) / "huggingface";
  return detail::home_directory() / ".cache" / "huggingface";
}

std::chrono::seconds env_seconds(const char* name, std::chrono::seconds fallback) {
  auto text = detail::env_string(name);
  if (!text) return fallback;
  try {
    const double value = std::stod(*text);
    if (value > 0) return std::chrono::seconds(static_cast<long long>(std::max(1.0, value)));
  } catch (const std::exception&) {
  }
  spdlog::warn("ignoring {}='{}': not a positive number of seconds", name, *text);
  return fallback;
}

// Points `pointer` at `blob` with a relative symlink (../../blobs/<etag> and deeper for files
// in sub-folders), replacing whatever was there.
void link_pointer(const fs::path& blob, const fs::path& pointer) {
  fs::create_directories(pointer.parent_path());
  std::error_code ignored;
  fs::remove(pointer, ignored);
  const fs::path target = blob.lexically_normal().lexically_relative(pointer.parent_path().lexically_normal());
  std::error_code error;
  fs::create_symlink(target, pointer, error);
  if (error && !(fs::is_symlink(pointer) && fs::equivalent(pointer, blob, ignored)))
    throw DataError("cannot create symlink " + pointer.string() + " -> " + target.string() + ": " + error.message());
}

void write_ref(const fs::path& folder, const std::string& revision, const std::string& commit) {
  if (revision == commit) return;
  const fs::path ref = folder / "refs" / fs::path(revision);
  auto current = detail::read_small_file(ref, 256);
  if (current && strip_whitespace(*current) == commit) return;  // unchanged: no write (read-only caches work)
  detail::write_file_atomically(ref, commit);
}

std::string join(const std::vector<std::string>& items, std::size_t limit = 20) {
  std::string out;
  for (std::size_t i = 0; i < items.size() && i < limit; ++i) out += (i ? ", " : "") + items[i];
  if (items.size() > limit) out += ", ... (" + std::to_string(items.size()) + " in all)";
  return out;
}

bool matches_any(const std::vector<std::string>& patterns, const std::string& path) {
  if (patterns.empty()) return true;
  return std::any_of(patterns.begin(), patterns.end(), [&](const std::string& p) { return hub_pattern_match(p, path); });
}

}  // namespace

// --- patterns -----------------------------------------------------------------------------

namespace {

// Matches one bracket expression at pattern[p] against c; returns the index after ']' or npos
// when the bracket is not closed (then '[' is a literal, as in Python's fnmatch).
std::size_t match_set(std::string_view pattern, std::size_t p, char c, bool& matched) {
  std::size_t i = p + 1;
  bool negate = false;
  if (i < pattern.size() && pattern[i] == '!') {
    negate = true;
    ++i;
  }
  bool found = false;
  bool first = true;
  while (i < pattern.size() && (pattern[i] != ']' || first)) {
    first = false;
    char low = pattern[i];
    char high = low;
    if (i + 2 < pattern.size() && pattern[i + 1] == '-' && pattern[i + 2] != ']') {
      high = pattern[i + 2];
      i += 3;
    } else {
      ++i;
    }
    if (low <= c && c <= high) found = true;
  }
  if (i >= pattern.size()) return std::string_view::npos;
  matched = found != negate;
  return i + 1;
}

bool wildcard_match(std::string_view pattern, std::string_view text) {
  std::size_t p = 0, t = 0;
  std::size_t star_p = std::string_view::npos, star_t = 0;
  while (t < text.size()) {
    bool advanced = false;
    if (p < pattern.size()) {
      const char pc = pattern[p];
      if (pc == '*') {
        star_p = p++;
        star_t = t;
        continue;
      }
      if (pc == '?') {
        ++p;
        ++t;
        advanced = true;
      } else if (pc == '[') {
        bool matched = false;
        const std::size_t next = match_set(pattern, p, text[t], matched);
        if (next == std::string_view::npos) {
          if (text[t] == '[') {
            ++p;
            ++t;
            advanced = true;
          }
        } else if (matched) {
          p = next;
          ++t;
          advanced = true;
        }
      } else if (pc == text[t]) {
        ++p;
        ++t;
        advanced = true;
      }
    }
    if (advanced) continue;
    if (star_p == std::string_view::npos) return false;
    p = star_p + 1;  // let the last '*' absorb one more character
    t = ++star_t;
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace

bool hub_pattern_match(std::string_view pattern, std::string_view path) {
  if (!pattern.empty() && pattern.back() == '/') {
    std::string folder(pattern);
    folder += '*';
    return wildcard_match(folder, path);
  }
  return wildcard_match(pattern, path);
}

std::vector<std::string> default_model_patterns() {
  return {"config.json", "*.safetensors", "model.safetensors.index.json", "tokenizer*", "vocab*", "merges.txt",
          "special_tokens_map.json"};
}

// --- options ------------------------------------------------------------------------------

fs::path default_hub_cache_dir() {
  if (auto dir = detail::env_string("HF_HUB_CACHE")) return *dir;
  if (auto dir = detail::env_string("HUGGINGFACE_HUB_CACHE")) return *dir;
  return hf_home() / "hub";
}

HubOptions HubOptions::from_environment() {
  HubOptions options;
  if (auto endpoint = detail::env_string("HF_ENDPOINT")) {
    options.endpoint = *endpoint;
    while (!options.endpoint.empty() && options.endpoint.back() == '/') options.endpoint.pop_back();
  }
  options.cache_dir = default_hub_cache_dir();
  if (auto token = detail::env_string("HF_TOKEN")) {
    options.token = strip_whitespace(*token);
  } else if (auto legacy = detail::env_string("HUGGING_FACE_HUB_TOKEN")) {
    options.token = strip_whitespace(*legacy);
  } else {
    const fs::path token_file = detail::env_string("HF_TOKEN_PATH").value_or((hf_home() / "token").string());
    if (auto content = detail::read_small_file(token_file, 4096)) options.token = strip_whitespace(*content);
  }
  options.offline = env_flag("HF_HUB_OFFLINE") || env_flag("TRANSFORMERS_OFFLINE");
  options.metadata_timeout = env_seconds("HF_HUB_ETAG_TIMEOUT", options.metadata_timeout);
  options.download.stall_timeout = env_seconds("HF_HUB_DOWNLOAD_TIMEOUT", options.download.stall_timeout);
  return options;
}

// --- client -------------------------------------------------------------------------------

HubClient::HubClient(HubOptions options) : options_(std::move(options)) {
  while (!options_.endpoint.empty() && options_.endpoint.back() == '/') options_.endpoint.pop_back();
  if (options_.endpoint.empty()) throw DataError("HubClient: empty endpoint");
  if (options_.cache_dir.empty()) throw DataError("HubClient: empty cache directory");
  options_.cache_dir = fs::absolute(options_.cache_dir);
}

HubClient::~HubClient() = default;

fs::path HubClient::repo_folder(const std::string& repo_id) const {
  validate_repo_id(repo_id);
  std::string name = "models--" + repo_id;
  for (std::size_t pos = name.find('/'); pos != std::string::npos; pos = name.find('/', pos + 2))
    name.replace(pos, 1, "--");
  return options_.cache_dir / name;
}

std::optional<std::string> HubClient::cached_commit(const std::string& repo_id, const std::string& revision) const {
  validate_revision(revision);
  if (is_commit_sha(revision)) return revision;
  auto content = detail::read_small_file(repo_folder(repo_id) / "refs" / fs::path(revision), 256);
  if (!content) return std::nullopt;
  std::string commit = strip_whitespace(*content);
  if (!is_commit_sha(commit)) {
    spdlog::warn("ignoring {}: '{}' is not a commit sha", (repo_folder(repo_id) / "refs" / revision).string(), commit);
    return std::nullopt;
  }
  return commit;
}

std::string HubClient::resolve_url(const std::string& repo_id, const std::string& filename,
                                   const std::string& revision) const {
  return options_.endpoint + "/" + repo_id + "/resolve/" + url_quote(revision, "") + "/" + url_quote(filename, "/");
}

namespace {

struct HeadResult {
  detail::HttpResponse response;
  std::string url;  // after relative redirects
};

// HEAD that follows relative redirects (renamed repos) but not absolute ones (CDN), as
// huggingface_hub does; HTTP errors are returned, not thrown, so callers can read their headers.
HeadResult head_following_relative(const HubOptions& options, std::string url) {
  for (int hop = 0; hop < 10; ++hop) {
    detail::HttpRequest request;
    request.method = "HEAD";
    request.url = url;
    request.headers = {"Accept-Encoding: identity"};
    request.bearer_token = options.token;
    request.follow_redirects = false;
    request.connect_timeout = options.metadata_timeout;
    request.total_timeout = options.metadata_timeout;
    HeadResult result{detail::http_request(request), url};
    const long status = result.response.status;
    const std::string location = result.response.headers.get("location");
    if (status >= 300 && status < 400 && !location.empty() && location.find("://") == std::string::npos) {
      if (location.front() != '/') throw DownloadError("unsupported relative redirect '" + location + "' from " + url, url, status);
      url = url_origin(url) + location;
      continue;
    }
    return result;
  }
  throw DownloadError("too many relative redirects starting from " + url, url);
}

[[noreturn]] void throw_hub_status(const detail::HttpResponse& response, const std::string& url, bool token_sent) {
  detail::throw_http_status(response.status, url, response.body, token_sent, response.headers.get("x-error-message"));
}

HubFileMetadata metadata_from(const detail::HttpResponse& response, const std::string& url) {
  HubFileMetadata metadata;
  metadata.commit = response.headers.get("x-repo-commit");
  std::string etag = response.headers.get("x-linked-etag");
  if (etag.empty()) etag = response.headers.get("etag");
  metadata.etag = normalize_etag(etag);
  std::string size = response.headers.get("x-linked-size");
  if (size.empty()) size = response.headers.get("content-length");
  metadata.size = parse_size(size);
  const std::string location = response.headers.get("location");
  metadata.location = (response.status >= 300 && response.status < 400 && !location.empty()) ? location : url;
  return metadata;
}

}  // namespace

HubFileMetadata HubClient::file_metadata(const std::string& repo_id, const std::string& filename,
                                         const std::string& revision) {
  validate_repo_id(repo_id);
  validate_repo_file(repo_id, filename);
  validate_revision(revision);
  const std::string url = resolve_url(repo_id, filename, revision);
  if (options_.offline) throw OfflineError("offline mode (HF_HUB_OFFLINE): refusing to reach " + url);
  HeadResult head = head_following_relative(options_, url);
  if (head.response.status >= 400) throw_hub_status(head.response, head.url, !options_.token.empty());
  return metadata_from(head.response, head.url);
}

fs::path HubClient::download(const std::string& repo_id, const std::string& filename, const std::string& revision) {
  return download_at(repo_id, filename, revision);
}

fs::path HubClient::download_at(const std::string& repo_id, const std::string& filename, const std::string& revision) {
  validate_repo_id(repo_id);
  validate_repo_file(repo_id, filename);
  validate_revision(revision);
  const fs::path folder = repo_folder(repo_id);
  const fs::path relative = fs::path(filename);
  if (is_commit_sha(revision) && fs::exists(folder / "snapshots" / revision / relative))
    return folder / "snapshots" / revision / relative;

  auto from_cache = [&]() -> std::optional<fs::path> {
    if (auto commit = cached_commit(repo_id, revision)) {
      const fs::path pointer = folder / "snapshots" / *commit / relative;
      if (fs::exists(pointer)) return pointer;
    }
    return std::nullopt;
  };

  if (options_.offline) {
    if (auto cached = from_cache()) return *cached;
    const auto commit = cached_commit(repo_id, revision);
    if (commit && fs::exists(folder / ".no_exist" / *commit / relative))
      throw NotFoundError("offline mode (HF_HUB_OFFLINE): '" + filename + "' does not exist in " + repo_id + " at " +
                              revision + " (commit " + *commit + ", cached as " +
                              (folder / ".no_exist" / *commit / relative).string() + ")",
                          resolve_url(repo_id, filename, revision));
    throw OfflineError("offline mode (HF_HUB_OFFLINE): '" + filename + "' of " + repo_id + " at revision '" + revision +
                       "' is not in the Hugging Face cache: " +
                       (commit ? "missing " + (folder / "snapshots" / *commit / relative).string()
                               : "no " + (folder / "refs" / revision).string() + " maps the revision to a commit") +
                       " (cache " + options_.cache_dir.string() + "; unset HF_HUB_OFFLINE to download it)");
  }

  const std::string url = resolve_url(repo_id, filename, revision);
  HeadResult head;
  try {
    head = head_following_relative(options_, url);
  } catch (const DownloadError& error) {
    // No connection: use the cache, as huggingface_hub does.
    if (auto cached = from_cache()) {
      spdlog::warn("cannot reach the Hub ({}); using the cached {}", error.what(), cached->string());
      return *cached;
    }
    throw;
  }
  const long status = head.response.status;
  if (status >= 400) {
    const std::string commit = head.response.headers.get("x-repo-commit");
    if (status == 404 && is_commit_sha(commit)) {
      // Remember that the file does not exist at this commit (huggingface_hub's .no_exist).
      const fs::path marker = folder / ".no_exist" / commit / relative;
      try {
        if (!fs::exists(marker)) detail::write_file_atomically(marker, "");
        write_ref(folder, revision, commit);
      } catch (const std::exception& error) {
        spdlog::warn("cannot record the missing file {}: {}", marker.string(), error.what());
      }
    }
    if (status >= 500) {
      if (auto cached = from_cache()) {
        spdlog::warn("the Hub answered HTTP {} for {}; using the cached {}", status, head.url, cached->string());
        return *cached;
      }
    }
    throw_hub_status(head.response, head.url, !options_.token.empty());
  }

  HubFileMetadata metadata = metadata_from(head.response, head.url);
  if (!is_commit_sha(metadata.commit))
    throw DataError(head.url + " did not return a commit sha in X-Repo-Commit (got '" + metadata.commit +
                    "'); is HF_ENDPOINT=" + options_.endpoint + " a Hugging Face Hub?");
  if (!is_safe_etag(metadata.etag))
    throw DataError(head.url + " returned no usable ETag / X-Linked-Etag (got '" + metadata.etag + "')");
  if (!metadata.size) throw DataError(head.url + " returned no X-Linked-Size / Content-Length");

  const fs::path blob = folder / "blobs" / metadata.etag;
  const fs::path pointer = folder / "snapshots" / metadata.commit / relative;
  fs::create_directories(blob.parent_path());
  write_ref(folder, revision, metadata.commit);
  if (fs::exists(pointer)) return pointer;

  detail::FileLock lock(options_.cache_dir / ".locks" / folder.filename() / (metadata.etag + ".lock"));
  if (!fs::exists(blob)) {
    DownloadOptions download = options_.download;
    download.offline = false;
    download.partial_path = blob.string() + ".incomplete";
    download.expected_size = metadata.size;
    // LFS files are named by their sha256; git-stored files by their git sha1 (not checked here).
    download.expected_sha256 = is_sha256_hex(metadata.etag) ? metadata.etag : std::string();
    // The token goes to the Hub only, not to a CDN on another host.
    download.bearer_token = url_origin(metadata.location) == url_origin(head.url) ? options_.token : std::string();
    if (download.label.empty()) download.label = filename;
    spdlog::info("downloading {} of {} (commit {})", filename, repo_id, metadata.commit);
    download_file(metadata.location, blob, download);
  }
  link_pointer(blob, pointer);
  return pointer;
}

fs::path HubClient::snapshot_download(const std::string& repo_id, const std::string& revision,
                                      const std::vector<std::string>& allow_patterns) {
  validate_repo_id(repo_id);
  validate_revision(revision);
  const fs::path folder = repo_folder(repo_id);

  auto cached_snapshot = [&](const std::string& why) -> fs::path {
    const auto commit = cached_commit(repo_id, revision);
    if (!commit)
      throw OfflineError(why + ": revision '" + revision + "' of " + repo_id + " is not in the Hugging Face cache (no " +
                         (folder / "refs" / revision).string() + "; cache " + options_.cache_dir.string() + ")");
    const fs::path snapshot = folder / "snapshots" / *commit;
    if (!fs::is_directory(snapshot))
      throw OfflineError(why + ": revision '" + revision + "' of " + repo_id + " maps to commit " + *commit +
                         " but " + snapshot.string() + " does not exist");
    std::vector<std::string> matched, present, broken;
    for (auto it = fs::recursive_directory_iterator(snapshot); it != fs::recursive_directory_iterator(); ++it) {
      if (it->is_directory()) continue;
      const std::string name = it->path().lexically_relative(snapshot).generic_string();
      present.push_back(name);
      if (!matches_any(allow_patterns, name)) continue;
      matched.push_back(name);
      if (!fs::exists(it->path())) broken.push_back(name);
    }
    if (!broken.empty())
      throw DataError(why + ": the cached snapshot " + snapshot.string() + " has files whose blobs are missing: " + join(broken));
    if (matched.empty())
      throw OfflineError(why + ": the cached snapshot " + snapshot.string() + " of " + repo_id + " has no file matching [" +
                         join(allow_patterns) + "]; it has: " + (present.empty() ? std::string("nothing") : join(present)));
    return snapshot;
  };

  if (options_.offline) return cached_snapshot("offline mode (HF_HUB_OFFLINE)");

  const std::string api_url = options_.endpoint + "/api/models/" + repo_id + "/revision/" + url_quote(revision, "");
  detail::HttpRequest request;
  request.url = api_url;
  request.bearer_token = options_.token;
  request.connect_timeout = options_.metadata_timeout;
  request.total_timeout = std::chrono::seconds(std::max<long long>(60, options_.metadata_timeout.count()));
  detail::HttpResponse response;
  try {
    response = detail::http_request(request);
  } catch (const DownloadError& error) {
    spdlog::warn("cannot reach the Hub ({}); looking in the cache", error.what());
    return cached_snapshot("cannot reach " + options_.endpoint);
  }
  if (response.status >= 500) {
    spdlog::warn("the Hub answered HTTP {} for {}; looking in the cache", response.status, api_url);
    return cached_snapshot("HTTP " + std::to_string(response.status) + " from " + api_url);
  }
  if (response.status >= 400) throw_hub_status(response, api_url, !options_.token.empty());

  std::string commit;
  std::vector<std::string> files;
  try {
    const auto info = nlohmann::json::parse(response.body);
    commit = info.at("sha").get<std::string>();
    for (const auto& sibling : info.at("siblings")) files.push_back(sibling.at("rfilename").get<std::string>());
  } catch (const std::exception& error) {
    throw DataError("unexpected answer from " + api_url + " (need 'sha' and 'siblings[].rfilename'): " + error.what());
  }
  if (!is_commit_sha(commit)) throw DataError(api_url + " returned '" + commit + "' as the commit sha");
  std::vector<std::string> selected;
  for (const auto& file : files) {
    validate_repo_file(repo_id, file);
    if (matches_any(allow_patterns, file)) selected.push_back(file);
  }
  if (selected.empty())
    throw DataError("no file of " + repo_id + " at revision '" + revision + "' matches [" + join(allow_patterns) +
                    "]; the repository has: " + (files.empty() ? std::string("no files") : join(files)));
  write_ref(folder, revision, commit);
  for (const auto& file : selected) download_at(repo_id, file, commit);
  return folder / "snapshots" / commit;
}

}  // namespace biaslab::data
