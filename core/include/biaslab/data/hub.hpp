#pragma once
// Hugging Face Hub client for model repositories, sharing its cache with Python tools
// (huggingface_hub): <cache>/models--ORG--NAME/
//   refs/<revision>             the commit sha a branch or tag resolved to
//   blobs/<etag>                file contents, named by etag (sha256 for LFS files, git sha1 otherwise)
//   snapshots/<commit>/<file>   relative symlinks to ../../blobs/<etag>
//   .no_exist/<commit>/<file>   marker: the file does not exist at that commit
// Environment: HF_ENDPOINT (default https://huggingface.co), HF_TOKEN (else HUGGING_FACE_HUB_TOKEN,
// else the token file $HF_TOKEN_PATH or $HF_HOME/token), HF_HUB_OFFLINE (cache only),
// HF_HUB_CACHE (else HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub, else
// $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub), HF_HUB_ETAG_TIMEOUT.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "biaslab/data/download.hpp"
#include "biaslab/export.hpp"

namespace biaslab::data {

struct BIASLAB_API HubOptions {
  std::string endpoint = "https://huggingface.co";  // no trailing slash
  std::filesystem::path cache_dir;                   // the hub cache (…/huggingface/hub)
  std::string token;                                 // empty: anonymous
  bool offline = false;                              // use the cache only
  std::chrono::seconds metadata_timeout{10};         // HEAD and API requests
  DownloadOptions download;                          // timeouts, retries, progress of file downloads
  static HubOptions from_environment();
};

// The hub cache folder from the environment (see the header comment).
BIASLAB_API std::filesystem::path default_hub_cache_dir();

// What a HEAD request on {endpoint}/{repo}/resolve/{revision}/{file} tells (as huggingface_hub
// reads it): X-Repo-Commit, X-Linked-Etag else ETag (normalised), X-Linked-Size else
// Content-Length, and the download location (an absolute redirect target, e.g. a CDN, or the URL).
struct HubFileMetadata {
  std::string commit;
  std::string etag;
  std::optional<std::uint64_t> size;
  std::string location;
};

// Patterns as huggingface_hub's allow_patterns (Python fnmatch): '*' matches any run of
// characters including '/', '?' one character, [abc] / [!abc] a set; a pattern ending in '/'
// matches everything under that folder.
BIASLAB_API bool hub_pattern_match(std::string_view pattern, std::string_view path);

// The files a model needs: config, safetensors weights (+ index), tokenizer files.
BIASLAB_API std::vector<std::string> default_model_patterns();

class BIASLAB_API HubClient {
 public:
  explicit HubClient(HubOptions options = HubOptions::from_environment());
  ~HubClient();

  const HubOptions& options() const noexcept { return options_; }

  // Downloads the repository's files matching `allow_patterns` (all files when empty) at
  // `revision` (branch, tag or commit sha) and returns <cache>/models--ORG--NAME/snapshots/<commit>.
  // Online, the file list comes from {endpoint}/api/models/{repo}/revision/{revision}; offline,
  // from the cached snapshot that refs/<revision> points to.
  std::filesystem::path snapshot_download(const std::string& repo_id, const std::string& revision = "main",
                                          const std::vector<std::string>& allow_patterns = {});
  // Downloads one file (hf_hub_download) and returns its snapshot path.
  std::filesystem::path download(const std::string& repo_id, const std::string& filename,
                                 const std::string& revision = "main");
  // HEAD request (follows relative redirects only, like huggingface_hub).
  HubFileMetadata file_metadata(const std::string& repo_id, const std::string& filename, const std::string& revision);

  // <cache>/models--ORG--NAME
  std::filesystem::path repo_folder(const std::string& repo_id) const;
  // The commit a revision maps to in the cache (the revision itself if it is a 40-hex sha).
  std::optional<std::string> cached_commit(const std::string& repo_id, const std::string& revision) const;
  // {endpoint}/{repo}/resolve/{revision}/{file} with the same quoting as huggingface_hub.
  std::string resolve_url(const std::string& repo_id, const std::string& filename, const std::string& revision) const;

 private:
  std::filesystem::path download_at(const std::string& repo_id, const std::string& filename,
                                    const std::string& revision);
  HubOptions options_;
};

}  // namespace biaslab::data
