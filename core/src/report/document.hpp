#pragma once
// The report as a format-neutral document: sections of paragraphs, tables and figures. The HTML
// and Markdown renderers turn the same document into report.html and report.md, so both always
// show the same numbers.
#include <optional>
#include <string>
#include <vector>

namespace biaslab::report::detail {

struct Table {
  std::string caption;
  std::vector<std::string> headers;
  std::vector<bool> right_aligned;
  std::vector<std::vector<std::string>> rows;
};

struct Figure {
  std::string title;
  std::string caption;
  std::string svg;    // gnuplot output; empty when not drawn
  std::string note;   // why it is missing, when svg is empty
};

struct Block {
  enum class Kind { paragraph, table, figure } kind = Kind::paragraph;
  std::string text;
  Table table;
  Figure figure;
};

struct Section {
  std::string title;
  std::string anchor;
  std::vector<Block> blocks;

  void paragraph(std::string text) { blocks.push_back({Block::Kind::paragraph, std::move(text), {}, {}}); }
  void table(Table t) { blocks.push_back({Block::Kind::table, {}, std::move(t), {}}); }
  void figure(Figure f) { blocks.push_back({Block::Kind::figure, {}, {}, std::move(f)}); }
};

struct Document {
  std::string title;
  std::vector<std::pair<std::string, std::string>> facts;  // run dir, pipeline, axes, ...
  std::vector<std::string> warnings;                        // shown prominently
  std::vector<std::string> notes;                           // what was omitted
  std::vector<Section> sections;
};

std::string render_html(const Document& doc);
std::string render_markdown(const Document& doc);

// Rounded numbers as `biaslab results` shows them: 4 decimals, integers >= 1000 in full,
// scientific notation outside [1e-4, 1e6).
std::string format_number(double v);
// "[low, high]" or "" when either end is missing.
std::string format_interval(const std::optional<double>& lo, const std::optional<double>& hi);

// Inline-ready SVG: no XML prolog, no namespace URIs (the HTML parser supplies them), ids
// prefixed with `prefix` so several plots can share one page.
std::string inline_svg(const std::string& svg, const std::string& prefix, const std::string& title);

}  // namespace biaslab::report::detail
