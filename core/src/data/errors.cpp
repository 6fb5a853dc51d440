#include "biaslab/data/errors.hpp"

#include <utility>

namespace biaslab::data {

DataError::~DataError() = default;

DownloadError::DownloadError(const std::string& message, std::string url, long http_status)
    : DataError(message), url_(std::move(url)), http_status_(http_status) {}
DownloadError::~DownloadError() = default;

NotFoundError::NotFoundError(const std::string& message, std::string url)
    : DownloadError(message, std::move(url), 404) {}
NotFoundError::~NotFoundError() = default;

ChecksumError::~ChecksumError() = default;
OfflineError::~OfflineError() = default;

}  // namespace biaslab::data
