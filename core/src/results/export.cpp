#include "biaslab/results_export.hpp"

#include <cmath>
#include <cstdio>
#include <map>
#include <stdexcept>

#include "biaslab/atomic_file.hpp"
#include "results/json_number.hpp"

namespace biaslab::results {
namespace {

// ---- full-precision table: what CSV and JSON write -----------------------------------------

enum class ColumnKind {
  text,     // string
  integer,  // int64 or null
  real,     // double (may be NaN) or null
  json      // any JSON value; strings are written raw in CSV, the rest as JSON text
};

struct Column {
  std::string name;
  ColumnKind kind;
};

struct Table {
  std::vector<Column> columns;
  std::vector<std::vector<nlohmann::json>> rows;
  std::size_t grid_begin = 1, grid_end = 1;  // grid.<var> columns are [grid_begin, grid_end)

  std::size_t index_of(std::string_view name) const {
    for (std::size_t i = 0; i < columns.size(); ++i)
      if (columns[i].name == name) return i;
    throw std::logic_error("results table has no column " + std::string(name));
  }
};

// Grid values of each cell by flattened column name, computed once per cell.
class FlatGrids {
 public:
  const std::map<std::string, nlohmann::json>& get(std::size_t cell, const nlohmann::json& grid) {
    auto it = cache_.find(cell);
    if (it == cache_.end()) {
      std::map<std::string, nlohmann::json> flat;
      for (auto& [name, value] : flatten_grid(grid)) flat.emplace(name, value);
      it = cache_.emplace(cell, std::move(flat)).first;
    }
    return it->second;
  }

 private:
  std::map<std::size_t, std::map<std::string, nlohmann::json>> cache_;
};

Table start_table(const ResultsDatabase& db) {
  Table t;
  t.columns.push_back({"cell", ColumnKind::integer});
  for (const std::string& g : db.grid_columns()) t.columns.push_back({"grid." + g, ColumnKind::json});
  t.grid_end = t.columns.size();
  for (const char* name : {"node", "plugin", "model", "metric"})
    t.columns.push_back({name, ColumnKind::text});
  return t;
}

std::vector<nlohmann::json> start_row(const Table& t, FlatGrids& grids, std::size_t cell,
                                      const nlohmann::json& grid) {
  std::vector<nlohmann::json> row;
  row.reserve(t.columns.size());
  row.emplace_back(static_cast<std::int64_t>(cell));
  const auto& flat = grids.get(cell, grid);
  for (std::size_t i = t.grid_begin; i < t.grid_end; ++i) {
    auto it = flat.find(t.columns[i].name.substr(5));  // strip "grid."
    row.push_back(it == flat.end() ? nlohmann::json() : it->second);
  }
  return row;
}

nlohmann::json optional_real(const std::optional<double>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json();
}

Table results_table(const ResultsDatabase& db, const ResultFilter& filter) {
  Table t = start_table(db);
  t.columns.push_back({"category", ColumnKind::text});
  t.columns.push_back({"value", ColumnKind::real});
  t.columns.push_back({"ci_low", ColumnKind::real});
  t.columns.push_back({"ci_high", ColumnKind::real});
  t.columns.push_back({"n", ColumnKind::integer});
  t.columns.push_back({"extra", ColumnKind::json});
  FlatGrids grids;
  for (const StoredResult& r : db.results(filter)) {
    auto row = start_row(t, grids, r.cell_index, r.grid);
    row.emplace_back(r.node);
    row.emplace_back(r.plugin);
    row.emplace_back(r.row.model);
    row.emplace_back(r.row.metric);
    row.emplace_back(r.row.category);
    row.emplace_back(r.row.value);
    row.push_back(optional_real(r.row.ci_low));
    row.push_back(optional_real(r.row.ci_high));
    row.push_back(r.row.n ? nlohmann::json(*r.row.n) : nlohmann::json());
    row.push_back(r.row.extra);
    t.rows.push_back(std::move(row));
  }
  return t;
}

Table examples_table(const ResultsDatabase& db, const ResultFilter& filter) {
  Table t = start_table(db);
  t.columns.push_back({"example_id", ColumnKind::text});
  t.columns.push_back({"values", ColumnKind::json});
  FlatGrids grids;
  for (const StoredExample& e : db.examples(filter)) {
    auto row = start_row(t, grids, e.cell_index, e.grid);
    row.emplace_back(e.node);
    row.emplace_back(e.plugin);
    row.emplace_back(e.row.model);
    row.emplace_back(e.row.metric);
    row.emplace_back(e.row.example_id);
    row.push_back(e.row.values);
    t.rows.push_back(std::move(row));
  }
  return t;
}

// ---- CSV (RFC 4180 quoting, LF line ends) ----------------------------------------------------

std::string csv_field(const nlohmann::json& v, ColumnKind kind) {
  if (v.is_null()) return "";
  switch (kind) {
    case ColumnKind::real: return format_double_exact(v.get<double>());
    case ColumnKind::text: return v.get<std::string>();
    case ColumnKind::integer: return v.dump();
    case ColumnKind::json: return v.is_string() ? v.get<std::string>() : v.dump();
  }
  return "";
}

void append_csv_escaped(std::string& out, const std::string& field) {
  if (field.find_first_of(",\"\r\n") == std::string::npos) {
    out += field;
    return;
  }
  out += '"';
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

std::string to_csv(const Table& t) {
  std::string out;
  for (std::size_t i = 0; i < t.columns.size(); ++i) {
    if (i) out += ',';
    append_csv_escaped(out, t.columns[i].name);
  }
  out += '\n';
  for (const auto& row : t.rows) {
    for (std::size_t i = 0; i < row.size(); ++i) {
      if (i) out += ',';
      append_csv_escaped(out, csv_field(row[i], t.columns[i].kind));
    }
    out += '\n';
  }
  return out;
}

// ---- JSON (array of records, keys in column order) ------------------------------------------

std::string to_json_text(const Table& t) {
  nlohmann::ordered_json records = nlohmann::ordered_json::array();
  for (const auto& row : t.rows) {
    nlohmann::ordered_json rec = nlohmann::ordered_json::object();
    for (std::size_t i = 0; i < row.size(); ++i) {
      const nlohmann::json& v = row[i];
      if (t.columns[i].kind == ColumnKind::real && !v.is_null())
        rec[t.columns[i].name] = nlohmann::ordered_json(double_to_json(v.get<double>()));
      else
        rec[t.columns[i].name] = nlohmann::ordered_json(v);
    }
    records.push_back(std::move(rec));
  }
  return records.dump(2) + "\n";
}

// ---- human-readable: aligned text and Markdown ------------------------------------------------

std::string display_json(const nlohmann::json& v) {
  if (v.is_null()) return "";
  return v.is_string() ? v.get<std::string>() : v.dump();
}

struct Display {
  std::vector<std::string> headers;
  std::vector<bool> right_aligned;
  std::vector<std::vector<std::string>> rows;
};

Display make_display(const Table& t, RowKind kind) {
  Display d;
  // Grid columns, named by their variable; right-aligned when every value is a number.
  for (std::size_t c = t.grid_begin; c < t.grid_end; ++c) {
    d.headers.push_back(t.columns[c].name.substr(5));
    bool numeric = true;
    for (const auto& row : t.rows) numeric = numeric && (row[c].is_null() || row[c].is_number());
    d.right_aligned.push_back(numeric);
  }
  std::vector<std::string> text_cols = {"node", "model", "metric"};
  text_cols.push_back(kind == RowKind::results ? "category" : "example_id");
  for (const auto& name : text_cols) {
    d.headers.push_back(name);
    d.right_aligned.push_back(false);
  }
  if (kind == RowKind::results) {
    d.headers.insert(d.headers.end(), {"value", "95% CI", "n"});
    d.right_aligned.insert(d.right_aligned.end(), {true, false, true});
  } else {
    d.headers.push_back("values");
    d.right_aligned.push_back(false);
  }

  std::vector<std::size_t> text_idx;
  for (const auto& name : text_cols) text_idx.push_back(t.index_of(name));
  for (const auto& row : t.rows) {
    std::vector<std::string> out;
    for (std::size_t c = t.grid_begin; c < t.grid_end; ++c) out.push_back(display_json(row[c]));
    for (std::size_t i : text_idx) out.push_back(row[i].get<std::string>());
    if (kind == RowKind::results) {
      out.push_back(format_display_number(row[t.index_of("value")].get<double>()));
      const auto& lo = row[t.index_of("ci_low")];
      const auto& hi = row[t.index_of("ci_high")];
      out.push_back(lo.is_null() || hi.is_null()
                        ? std::string()
                        : "[" + format_display_number(lo.get<double>()) + ", " +
                              format_display_number(hi.get<double>()) + "]");
      out.push_back(display_json(row[t.index_of("n")]));
    } else {
      out.push_back(row[t.index_of("values")].dump());
    }
    d.rows.push_back(std::move(out));
  }
  return d;
}

// Width in terminal columns, counting UTF-8 code points (continuation bytes take no column).
std::size_t display_width(const std::string& s) {
  std::size_t w = 0;
  for (unsigned char c : s) w += (c & 0xC0) != 0x80;
  return w;
}

std::vector<std::size_t> column_widths(const Display& d, std::size_t minimum) {
  std::vector<std::size_t> w(d.headers.size(), minimum);
  for (std::size_t i = 0; i < d.headers.size(); ++i) w[i] = std::max(w[i], display_width(d.headers[i]));
  for (const auto& row : d.rows)
    for (std::size_t i = 0; i < row.size(); ++i) w[i] = std::max(w[i], display_width(row[i]));
  return w;
}

void append_padded(std::string& out, const std::string& s, std::size_t width, bool right) {
  const std::string pad(width - display_width(s), ' ');
  out += right ? pad + s : s + pad;
}

void trim_trailing_spaces(std::string& line) {
  while (!line.empty() && line.back() == ' ') line.pop_back();
}

std::string to_text(const Display& d) {
  const auto widths = column_widths(d, 1);
  std::string out;
  auto emit_line = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      if (i) line += "  ";
      append_padded(line, cells[i], widths[i], d.right_aligned[i]);
    }
    trim_trailing_spaces(line);
    out += line + "\n";
  };
  emit_line(d.headers);
  std::vector<std::string> rules;
  for (std::size_t w : widths) rules.emplace_back(w, '-');
  emit_line(rules);
  for (const auto& row : d.rows) emit_line(row);
  return out;
}

std::string markdown_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += '\\';
    out += (c == '\n' || c == '\r') ? ' ' : c;
  }
  return out;
}

std::string to_markdown(Display d) {
  for (auto& h : d.headers) h = markdown_escape(h);
  for (auto& row : d.rows)
    for (auto& cell : row) cell = markdown_escape(cell);
  const auto widths = column_widths(d, 3);  // a delimiter cell needs three dashes
  std::string out;
  auto emit_line = [&](const std::vector<std::string>& cells) {
    out += "|";
    for (std::size_t i = 0; i < cells.size(); ++i) {
      out += " ";
      append_padded(out, cells[i], widths[i], d.right_aligned[i]);
      out += " |";
    }
    out += "\n";
  };
  emit_line(d.headers);
  out += "|";
  for (std::size_t i = 0; i < widths.size(); ++i)
    out += d.right_aligned[i] ? " " + std::string(widths[i] - 1, '-') + ": |"
                              : " " + std::string(widths[i], '-') + " |";
  out += "\n";
  for (const auto& row : d.rows) emit_line(row);
  return out;
}

}  // namespace

std::string format_display_number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Inf" : "-Inf";
  char buf[64];
  const double a = std::fabs(v);
  if (a >= 1000 && a < 1e15 && v == std::trunc(v))
    std::snprintf(buf, sizeof buf, "%.0f", v);
  else if (a == 0 || (a >= 1e-4 && a < 1e6))
    std::snprintf(buf, sizeof buf, "%.4f", v);
  else
    std::snprintf(buf, sizeof buf, "%.4e", v);
  return buf;
}

Format format_from_string(std::string_view name) {
  if (name == "table") return Format::table;
  if (name == "csv") return Format::csv;
  if (name == "json") return Format::json;
  if (name == "md" || name == "markdown") return Format::markdown;
  throw std::invalid_argument("unknown format '" + std::string(name) +
                              "' (expected table, csv, json or md)");
}

std::string render(const ResultsDatabase& db, Format format, RowKind kind,
                   const ResultFilter& filter) {
  const Table t = kind == RowKind::results ? results_table(db, filter) : examples_table(db, filter);
  switch (format) {
    case Format::csv: return to_csv(t);
    case Format::json: return to_json_text(t);
    case Format::markdown: return to_markdown(make_display(t, kind));
    case Format::table:
      if (t.rows.empty()) return kind == RowKind::results ? "no results\n" : "no examples\n";
      return to_text(make_display(t, kind));
  }
  throw std::logic_error("unhandled results format");
}

void write_exports(const ResultsDatabase& db, const std::filesystem::path& run_dir) {
  const Table t = results_table(db, {});
  write_file_atomic(run_dir / kResultsCsvFileName, to_csv(t));
  write_file_atomic(run_dir / kResultsJsonFileName, to_json_text(t));
}

}  // namespace biaslab::results
