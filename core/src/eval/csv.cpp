#include "biaslab/eval/csv.hpp"

#include <stdexcept>

#include "eval/file_io.hpp"

namespace biaslab::eval {

namespace {

[[noreturn]] void fail(std::string_view source, std::size_t line, std::size_t column, const std::string& what) {
  throw std::runtime_error(std::string(source) + ":" + std::to_string(line) + ":" + std::to_string(column) +
                           ": " + what);
}

class CsvParser {
 public:
  CsvParser(std::string_view text, const CsvOptions& options, std::string_view source)
      : text_(text), options_(options), source_(source) {
    if (text_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;
    if (options_.delimiter == '"' || options_.delimiter == '\n' || options_.delimiter == '\r')
      throw std::invalid_argument("CSV delimiter must not be a quote or a line break");
  }

  std::vector<CsvRecord> parse() {
    std::vector<CsvRecord> records;
    while (pos_ < text_.size()) {
      if (at_line_end()) {  // empty line: skipped like csv.DictReader does
        consume_line_end();
        continue;
      }
      records.push_back(parse_record());
    }
    return records;
  }

 private:
  bool at_line_end() const { return text_[pos_] == '\n' || text_[pos_] == '\r'; }

  void consume_line_end() {
    if (text_[pos_] == '\r' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '\n') ++pos_;
    ++pos_;
    ++line_;
    line_start_ = pos_;
  }

  std::size_t column() const { return pos_ - line_start_ + 1; }

  CsvRecord parse_record() {
    CsvRecord record;
    record.line = line_;
    while (true) {
      record.fields.push_back(parse_field());
      if (pos_ >= text_.size()) break;
      if (text_[pos_] == options_.delimiter) {
        ++pos_;
        continue;  // a delimiter right before a line end / EOF yields an empty last field next turn
      }
      consume_line_end();  // parse_field only stops at a delimiter, a line end or EOF
      break;
    }
    return record;
  }

  std::string parse_field() {
    if (pos_ < text_.size() && text_[pos_] == '"') return parse_quoted_field();
    std::string field;
    while (pos_ < text_.size() && text_[pos_] != options_.delimiter && !at_line_end()) {
      if (text_[pos_] == '"')
        fail(source_, line_, column(), "quote character inside an unquoted field (RFC 4180 requires quoting)");
      field.push_back(text_[pos_++]);
    }
    return field;
  }

  std::string parse_quoted_field() {
    const std::size_t start_line = line_;
    const std::size_t start_column = column();
    ++pos_;  // opening quote
    std::string field;
    while (true) {
      if (pos_ >= text_.size())
        fail(source_, start_line, start_column, "unterminated quoted field (end of input reached)");
      const char c = text_[pos_];
      if (c == '"') {
        if (pos_ + 1 < text_.size() && text_[pos_ + 1] == '"') {  // doubled quote = literal quote
          field.push_back('"');
          pos_ += 2;
          continue;
        }
        ++pos_;  // closing quote
        if (pos_ < text_.size() && text_[pos_] != options_.delimiter && !at_line_end())
          fail(source_, line_, column(), "unexpected character after closing quote");
        return field;
      }
      if (c == '\n' || c == '\r') {  // embedded line break: kept verbatim, counted for line numbers
        if (c == '\r' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '\n') {
          field.push_back('\r');
          ++pos_;
        }
        field.push_back(text_[pos_]);
        ++pos_;
        ++line_;
        line_start_ = pos_;
        continue;
      }
      field.push_back(c);
      ++pos_;
    }
  }

  std::string_view text_;
  const CsvOptions& options_;
  std::string_view source_;
  std::size_t pos_ = 0;
  std::size_t line_ = 1;
  std::size_t line_start_ = 0;
};

}  // namespace

std::size_t CsvTable::column(std::string_view name) const {
  if (auto index = find_column(name)) return *index;
  throw std::runtime_error(source + ": missing column '" + std::string(name) + "' in the header");
}

std::optional<std::size_t> CsvTable::find_column(std::string_view name) const {
  for (std::size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return i;
  return std::nullopt;
}

std::vector<CsvRecord> parse_csv_records(std::string_view text, const CsvOptions& options, std::string_view source) {
  return CsvParser(text, options, source).parse();
}

CsvTable parse_csv(std::string_view text, const CsvOptions& options, std::string_view source) {
  auto records = parse_csv_records(text, options, source);
  if (records.empty()) throw std::runtime_error(std::string(source) + ": empty CSV file (no header)");
  CsvTable table;
  table.source = std::string(source);
  table.header = std::move(records.front().fields);
  table.records.assign(std::make_move_iterator(records.begin() + 1), std::make_move_iterator(records.end()));
  if (options.require_uniform_field_count) {
    for (const auto& record : table.records) {
      if (record.fields.size() != table.header.size())
        fail(source, record.line, 1,
             "record has " + std::to_string(record.fields.size()) + " fields, header has " +
                 std::to_string(table.header.size()));
    }
  }
  return table;
}

CsvTable read_csv(const std::filesystem::path& path, const CsvOptions& options) {
  const std::string text = detail::read_file(path);
  return parse_csv(text, options, path.string());
}

}  // namespace biaslab::eval
