#pragma once
// Crash-safe file replacement: readers see either the old file or the complete new one, never a
// torn write. Used for run exports, provenance and engine state files.
#include <filesystem>
#include <string_view>

#include "biaslab/export.hpp"

namespace biaslab {

// Writes `content` to a temporary file in the same directory as `path`, fsyncs it, renames it
// over `path` and fsyncs the directory. The new file gets mode 0666 minus the umask. The parent
// directory must exist. Throws std::system_error naming the path on any failure; the temporary
// file is removed then.
BIASLAB_API void write_file_atomic(const std::filesystem::path& path, std::string_view content);

}  // namespace biaslab
