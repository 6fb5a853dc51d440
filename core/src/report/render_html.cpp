// report.html: one self-contained page (inline CSS and SVG; no scripts, no external URLs).
#include <cmath>
#include <cstdio>
#include <regex>
#include <set>
#include <sstream>

#include "biaslab/results_export.hpp"
#include "report/document.hpp"

namespace biaslab::report::detail {
namespace {

std::string esc(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

const char* kStyle = R"css(
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2em auto;
       max-width: 1100px; padding: 0 1em; color: #222; background: #fff; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.6em 0 1.4em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; }
th { background: #f3f3f3; } td.r { text-align: right; font-variant-numeric: tabular-nums; }
caption { caption-side: top; text-align: left; font-style: italic; padding-bottom: 0.3em; }
figure { margin: 1em 0 2em; } figure svg { width: 100%; max-width: 860px; height: auto; }
figcaption { font-size: 0.9em; color: #444; }
.warning { background: #fff3cd; border: 1px solid #e0c060; padding: 0.6em 1em; }
.note { color: #666; font-style: italic; }
dl.facts { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1em; }
dl.facts dt { font-weight: bold; } dl.facts dd { margin: 0; }
)css";

void table(std::ostringstream& o, const Table& t) {
  o << "<table>\n";
  if (!t.caption.empty()) o << "<caption>" << esc(t.caption) << "</caption>\n";
  o << "<thead><tr>";
  for (const auto& h : t.headers) o << "<th>" << esc(h) << "</th>";
  o << "</tr></thead>\n<tbody>\n";
  for (const auto& row : t.rows) {
    o << "<tr>";
    for (std::size_t i = 0; i < row.size(); ++i)
      o << (i < t.right_aligned.size() && t.right_aligned[i] ? "<td class=\"r\">" : "<td>") << esc(row[i])
        << "</td>";
    o << "</tr>\n";
  }
  o << "</tbody></table>\n";
}

}  // namespace

std::string format_number(double v) { return results::format_display_number(v); }

std::string format_interval(const std::optional<double>& lo, const std::optional<double>& hi) {
  if (!lo || !hi) return "";
  return "[" + format_number(*lo) + ", " + format_number(*hi) + "]";
}

std::string inline_svg(const std::string& svg, const std::string& prefix, const std::string& title) {
  std::string s = svg;
  if (auto start = s.find("<svg"); start != std::string::npos) s.erase(0, start);
  // Namespace declarations are URIs, not resources, but the page must not name any URL; the
  // HTML parser puts inline <svg> in the SVG namespace and knows xlink:href by itself.
  static const std::regex xmlns(R"re(\s+xmlns(:\w+)?\s*=\s*("[^"]*"|'[^']*'))re");
  s = std::regex_replace(s, xmlns, "");
  // Unique ids per plot: gnuplot names its symbols and groups the same in every file.
  static const std::regex id_attr(R"re(\bid\s*=\s*(['"])([^'"]+)\1)re");
  std::set<std::string> ids;
  for (auto it = std::sregex_iterator(s.begin(), s.end(), id_attr); it != std::sregex_iterator(); ++it)
    ids.insert((*it)[2].str());
  for (const auto& id : ids) {
    const std::string fresh = prefix + id;
    for (const char* q : {"'", "\""}) {
      for (const auto& [from, to] :
           std::vector<std::pair<std::string, std::string>>{{"id=" + std::string(q) + id + q, "id=" + std::string(q) + fresh + q},
                                                            {"#" + id + q, "#" + fresh + q},
                                                            {"#" + id + ")", "#" + fresh + ")"}}) {
        for (std::size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size()))
          s.replace(pos, from.size(), to);
      }
    }
  }
  // The plot's own title instead of gnuplot's "<title>Gnuplot</title>".
  if (auto t = s.find("<title>Gnuplot</title>"); t != std::string::npos)
    s.replace(t, 22, "<title>" + esc(title) + "</title>");
  if (auto open = s.find("<svg"); open != std::string::npos)
    s.insert(open + 4, " role=\"img\"");
  return s;
}

std::string render_html(const Document& doc) {
  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    << "<title>" << esc(doc.title) << "</title>\n<style>" << kStyle << "</style>\n</head>\n<body>\n";
  o << "<h1>" << esc(doc.title) << "</h1>\n<dl class=\"facts\">\n";
  for (const auto& [k, v] : doc.facts) o << "<dt>" << esc(k) << "</dt><dd>" << esc(v) << "</dd>\n";
  o << "</dl>\n";
  for (const auto& w : doc.warnings) o << "<p class=\"warning\"><strong>Warning:</strong> " << esc(w) << "</p>\n";
  if (!doc.notes.empty()) {
    o << "<ul class=\"notes\">\n";
    for (const auto& n : doc.notes) o << "<li class=\"note\">" << esc(n) << "</li>\n";
    o << "</ul>\n";
  }
  o << "<nav><ul>\n";
  for (const auto& s : doc.sections) o << "<li><a href=\"#" << esc(s.anchor) << "\">" << esc(s.title) << "</a></li>\n";
  o << "</ul></nav>\n";
  for (const auto& s : doc.sections) {
    o << "<section id=\"" << esc(s.anchor) << "\">\n<h2>" << esc(s.title) << "</h2>\n";
    for (const auto& b : s.blocks) {
      switch (b.kind) {
        case Block::Kind::paragraph: o << "<p>" << esc(b.text) << "</p>\n"; break;
        case Block::Kind::table: table(o, b.table); break;
        case Block::Kind::figure:
          o << "<figure>\n";
          if (!b.figure.svg.empty()) o << b.figure.svg << "\n";
          else o << "<p class=\"note\">" << esc(b.figure.title) << ": not drawn -- " << esc(b.figure.note) << "</p>\n";
          if (!b.figure.caption.empty()) o << "<figcaption>" << esc(b.figure.caption) << "</figcaption>\n";
          o << "</figure>\n";
          break;
      }
    }
    o << "</section>\n";
  }
  o << "</body>\n</html>\n";
  return o.str();
}

}  // namespace biaslab::report::detail
