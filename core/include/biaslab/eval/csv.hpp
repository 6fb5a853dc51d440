#pragma once
// RFC 4180 CSV/TSV reader for the benchmark files (CrowS-Pairs, BBQ metadata). Quoted fields may hold
// delimiters, doubled quotes ("") and line breaks (CrowS-Pairs row 1293 has one); nothing is trimmed or
// normalised. Malformed input throws std::runtime_error "<source>:<line>:<column>: <problem>".
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <biaslab/export.hpp>

namespace biaslab::eval {

struct CsvOptions {
  char delimiter = ',';
  // Every record must have as many fields as the header (Python's csv.DictReader would silently pad or
  // collect extras; for benchmark files a ragged row means a broken file).
  bool require_uniform_field_count = true;
};

struct CsvRecord {
  std::vector<std::string> fields;
  std::size_t line = 0;  // 1-based physical line on which the record starts
};

struct CsvTable {
  std::string source;               // file name (or label) used in messages
  std::vector<std::string> header;  // first record
  std::vector<CsvRecord> records;   // data records (empty lines are skipped, as csv.DictReader does)

  // Index of the header column `name`; throws naming the source when it is absent.
  BIASLAB_API std::size_t column(std::string_view name) const;
  BIASLAB_API std::optional<std::size_t> find_column(std::string_view name) const;
};

// Splits `text` into records. A leading UTF-8 BOM is dropped; LF, CRLF and a lone CR end a record.
// Errors: unterminated quoted field (reports the line where it starts), a character other than the
// delimiter or a line break after a closing quote, a quote inside an unquoted field.
BIASLAB_API std::vector<CsvRecord> parse_csv_records(std::string_view text, const CsvOptions& options = {},
                                                     std::string_view source = "<memory>");

// First record becomes the header. Throws when the text has no header record.
BIASLAB_API CsvTable parse_csv(std::string_view text, const CsvOptions& options = {},
                               std::string_view source = "<memory>");

BIASLAB_API CsvTable read_csv(const std::filesystem::path& path, const CsvOptions& options = {});

}  // namespace biaslab::eval
