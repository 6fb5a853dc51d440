// report.md: the document's tables as GitHub-flavoured Markdown; figures are listed with a
// pointer to report.html (Markdown cannot carry the inline SVG portably).
#include <sstream>

#include "report/document.hpp"

namespace biaslab::report::detail {
namespace {

std::string cell(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += "\\|";
    else if (c == '\n' || c == '\r') out += ' ';
    else out += c;
  }
  return out;
}

void table(std::ostringstream& o, const Table& t) {
  if (!t.caption.empty()) o << "*" << cell(t.caption) << "*\n\n";
  o << "|";
  for (const auto& h : t.headers) o << " " << cell(h) << " |";
  o << "\n|";
  for (std::size_t i = 0; i < t.headers.size(); ++i)
    o << (i < t.right_aligned.size() && t.right_aligned[i] ? "---:|" : "---|");
  o << "\n";
  for (const auto& row : t.rows) {
    o << "|";
    for (const auto& c : row) o << " " << cell(c) << " |";
    o << "\n";
  }
  o << "\n";
}

}  // namespace

std::string render_markdown(const Document& doc) {
  std::ostringstream o;
  o << "# " << doc.title << "\n\n";
  for (const auto& [k, v] : doc.facts) o << "- **" << k << "**: " << v << "\n";
  o << "\n";
  for (const auto& w : doc.warnings) o << "> **Warning:** " << w << "\n\n";
  if (!doc.notes.empty()) {
    o << "Notes:\n\n";
    for (const auto& n : doc.notes) o << "- " << n << "\n";
    o << "\n";
  }
  for (const auto& s : doc.sections) {
    o << "## " << s.title << "\n\n";
    for (const auto& b : s.blocks) {
      switch (b.kind) {
        case Block::Kind::paragraph: o << b.text << "\n\n"; break;
        case Block::Kind::table: table(o, b.table); break;
        case Block::Kind::figure:
          o << "- Figure: " << b.figure.title;
          if (!b.figure.svg.empty()) o << " (in report.html)";
          else if (!b.figure.note.empty()) o << " -- not drawn: " << b.figure.note;
          o << "\n\n";
          break;
      }
    }
  }
  return o.str();
}

}  // namespace biaslab::report::detail
