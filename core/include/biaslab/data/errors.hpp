#pragma once
// Exceptions of the data area (downloads, data manager, Hugging Face Hub client). Every message
// names the URL, file or data set concerned, so callers can print what() as is.
#include <stdexcept>
#include <string>

#include "biaslab/export.hpp"

namespace biaslab::data {

// Base class: any failure to obtain or verify data.
class BIASLAB_API DataError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
  ~DataError() override;
};

// A transfer failed (HTTP error status, connection problem, interrupted stream).
class BIASLAB_API DownloadError : public DataError {
 public:
  DownloadError(const std::string& message, std::string url, long http_status = 0);
  ~DownloadError() override;
  const std::string& url() const noexcept { return url_; }
  long http_status() const noexcept { return http_status_; }  // 0 when no HTTP status was received

 private:
  std::string url_;
  long http_status_;
};

// The server answered 404: "not found: URL (HTTP 404)".
class BIASLAB_API NotFoundError : public DownloadError {
 public:
  NotFoundError(const std::string& message, std::string url);
  ~NotFoundError() override;
};

// Downloaded or local bytes do not have the expected sha256 or size.
class BIASLAB_API ChecksumError : public DataError {
 public:
  using DataError::DataError;
  ~ChecksumError() override;
};

// The network is needed but offline mode forbids it (BIASLAB_OFFLINE, HF_HUB_OFFLINE, --offline).
class BIASLAB_API OfflineError : public DataError {
 public:
  using DataError::DataError;
  ~OfflineError() override;
};

}  // namespace biaslab::data
