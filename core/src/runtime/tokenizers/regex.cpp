#include "runtime/tokenizers/regex.hpp"

#include <pcre2.h>

#include <new>
#include <optional>
#include <stdexcept>

#include "runtime/tokenizers/unicode.hpp"

namespace biaslab::runtime::tokenizers {
namespace {

constexpr std::string_view kWordClassBody = "\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}";
constexpr std::string_view kHexDigitBody = "0-9a-fA-F";

std::string pcre2_error_text(int code) {
  PCRE2_UCHAR buffer[256];
  pcre2_get_error_message(code, buffer, sizeof(buffer));
  return reinterpret_cast<const char*>(buffer);
}

}  // namespace

struct Regex::Impl {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Impl() {
    if (code != nullptr) pcre2_code_free(code);
  }
};

std::string Regex::translate_oniguruma(std::string_view pattern) {
  std::string out;
  out.reserve(pattern.size() + 16);
  bool in_class = false;
  std::size_t class_start = 0;  // index in `pattern` just after '[' or '[^'
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char e = pattern[i + 1];
      ++i;
      switch (e) {
        case 's': out += "\\p{White_Space}"; break;
        case 'S': out += "\\P{White_Space}"; break;
        case 'w':
          if (in_class) out += kWordClassBody;
          else out.append("[").append(kWordClassBody).append("]");
          break;
        case 'W':
          // A negated class cannot be spliced into another class; keep PCRE2's \W there.
          if (in_class) out += "\\W";
          else out.append("[^").append(kWordClassBody).append("]");
          break;
        case 'h':  // Ruby syntax: hexadecimal digit
          if (in_class) out += kHexDigitBody;
          else out.append("[").append(kHexDigitBody).append("]");
          break;
        case 'H':
          if (in_class) out += "\\H";
          else out.append("[^").append(kHexDigitBody).append("]");
          break;
        case 'u':  // Ruby \uHHHH
          if (i + 4 < pattern.size() &&
              pattern.substr(i + 1, 4).find_first_not_of("0123456789abcdefABCDEF") == std::string_view::npos) {
            out.append("\\x{").append(pattern.substr(i + 1, 4)).append("}");
            i += 4;
          } else {
            out += "\\u";
          }
          break;
        case 'p':
        case 'P':
          // Copy \p{...} verbatim so its name is not rewritten.
          out.push_back('\\');
          out.push_back(e);
          if (i + 1 < pattern.size() && pattern[i + 1] == '{') {
            const auto close = pattern.find('}', i + 1);
            if (close != std::string_view::npos) {
              out.append(pattern.substr(i + 1, close - i));
              i = close;
            }
          }
          break;
        default:
          out.push_back('\\');
          out.push_back(e);
      }
      continue;
    }
    if (!in_class && c == '[') {
      in_class = true;
      out.push_back(c);
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') {
        out.push_back('^');
        ++i;
      }
      class_start = i + 1;
      continue;
    }
    if (in_class && c == ']' && i != class_start) {
      in_class = false;
    }
    out.push_back(c);
  }
  return out;
}

Regex::Regex(std::string pattern) : pattern_(std::move(pattern)), impl_(std::make_unique<Impl>()) {
  const std::string translated = translate_oniguruma(pattern_);
  pcre2_compile_context* context = pcre2_compile_context_create(nullptr);
  pcre2_set_newline(context, PCRE2_NEWLINE_LF);
  int error = 0;
  PCRE2_SIZE error_offset = 0;
  impl_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(),
                              PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE, &error, &error_offset, context);
  pcre2_compile_context_free(context);
  if (impl_->code == nullptr) {
    throw std::invalid_argument("cannot compile regex '" + pattern_ + "' (as PCRE2 '" + translated +
                                "'): " + pcre2_error_text(error) + " at offset " +
                                std::to_string(error_offset));
  }
  impl_->jit = pcre2_jit_compile(impl_->code, PCRE2_JIT_COMPLETE) == 0;
}

Regex::~Regex() = default;

std::vector<std::pair<std::size_t, std::size_t>> Regex::find_all(std::string_view text) const {
  std::vector<std::pair<std::size_t, std::size_t>> matches;
  pcre2_match_data* data = pcre2_match_data_create_from_pattern(impl_->code, nullptr);
  if (data == nullptr) throw std::bad_alloc();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  std::size_t search_from = 0;
  std::optional<std::size_t> last_match_end;
  while (search_from <= text.size()) {
    int rc = pcre2_match(impl_->code, subject, text.size(), search_from, PCRE2_NO_UTF_CHECK, data, nullptr);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
      // Very long inputs can exhaust the JIT stack; the interpreter uses the heap.
      rc = pcre2_match(impl_->code, subject, text.size(), search_from, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT,
                       data, nullptr);
    }
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      pcre2_match_data_free(data);
      throw std::runtime_error("regex '" + pattern_ + "' failed: " + pcre2_error_text(rc));
    }
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data);
    const std::size_t start = ovector[0];
    const std::size_t end = ovector[1];
    if (start == end && last_match_end && *last_match_end == end) {
      if (search_from >= text.size()) break;
      search_from += unicode::utf8_sequence_length(static_cast<unsigned char>(text[search_from]));
      continue;
    }
    matches.emplace_back(start, end);
    search_from = end;
    last_match_end = end;
  }
  pcre2_match_data_free(data);
  return matches;
}

}  // namespace biaslab::runtime::tokenizers
