#include "biaslab/eval/python_numeric.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <stdexcept>
#include <vector>

namespace biaslab::eval {

namespace {

// numpy/core/src/umath/loops_utils.h.src pairwise_sum (PW_BLOCKSIZE = 128, 8-way unrolled).
double pairwise_sum(const double* a, std::size_t n) {
  if (n < 8) {
    double res = 0.0;
    for (std::size_t i = 0; i < n; ++i) res += a[i];
    return res;
  }
  if (n <= 128) {
    double r[8];
    for (int k = 0; k < 8; ++k) r[k] = a[k];
    std::size_t i = 8;
    for (; i < n - (n % 8); i += 8)
      for (int k = 0; k < 8; ++k) r[k] += a[i + k];
    double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += a[i];
    return res;
  }
  std::size_t n2 = n / 2;
  n2 -= n2 % 8;
  return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
}

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

}  // namespace

double numpy_sum(std::span<const double> values) {
  // The reduction starts from the identity 0.0 and adds the pairwise sum of all elements.
  double result = 0.0;
  result += pairwise_sum(values.data(), values.size());
  return result;
}

double numpy_mean(std::span<const double> values) {
  if (values.empty()) return kNaN;
  return numpy_sum(values) / static_cast<double>(values.size());
}

double numpy_std(std::span<const double> values, std::size_t ddof) {
  if (values.size() <= ddof) return kNaN;
  const double mean = numpy_sum(values) / static_cast<double>(values.size());
  std::vector<double> squared(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    const double d = values[i] - mean;
    squared[i] = d * d;
  }
  return std::sqrt(numpy_sum(squared) / static_cast<double>(values.size() - ddof));
}

double python_sum(std::span<const double> values) {
  double total = 0.0;  // sum() starts from the int 0; 0 + x == x for every float x except -0.0 (-> 0.0)
  for (double v : values) total += v;
  return total;
}

double python_mean(std::span<const double> values) {
  if (values.empty()) return kNaN;
  return python_sum(values) / static_cast<double>(values.size());
}

double python_round(double x, int ndigits) {
  if (ndigits < 0) throw std::invalid_argument("python_round: negative ndigits are not supported");
  if (!std::isfinite(x)) return x;
  if (ndigits > 340) return x;  // more digits than any double has: Python returns x unchanged
  // glibc's printf formats the exact binary value and rounds half to even, like CPython's dtoa.
  const int length = std::snprintf(nullptr, 0, "%.*f", ndigits, x);
  std::vector<char> buffer(static_cast<std::size_t>(length) + 1);
  std::snprintf(buffer.data(), buffer.size(), "%.*f", ndigits, x);
  return std::strtod(buffer.data(), nullptr);
}

double numpy_round(double x, int decimals) {
  if (decimals < 0) throw std::invalid_argument("numpy_round: negative decimals are not supported");
  // numpy's power_of_ten(): table up to 1e8, then repeated multiplication by 10.
  static constexpr double kPowers[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8};
  double factor;
  if (decimals < 9) {
    factor = kPowers[decimals];
  } else {
    factor = 1e9;
    for (int n = decimals; n-- > 9;) factor *= 10.0;
  }
  const double scaled = std::nearbyint(x * factor);  // rint: current mode = round half to even
  return scaled / factor;
}

std::string python_float_repr(double x) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  if (x == 0.0) return std::signbit(x) ? "-0.0" : "0.0";

  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, x, std::chars_format::scientific);
  std::string text(buffer, result.ptr);  // e.g. "-7.65e+02": shortest round-trip digits
  std::string sign;
  if (text.front() == '-') {
    sign = "-";
    text.erase(0, 1);
  }
  const auto e = text.find('e');
  std::string digits = text.substr(0, e);
  if (digits.size() > 1) digits.erase(1, 1);  // drop the '.'
  const int exponent = std::stoi(text.substr(e + 1));
  const int decpt = exponent + 1;  // position of the decimal point relative to the digits
  const int ndigits = static_cast<int>(digits.size());

  std::string out = sign;
  if (decpt <= -4 || decpt > 16) {
    out += digits.substr(0, 1);
    if (ndigits > 1) out += "." + digits.substr(1);
    const int abs_exp = std::abs(exponent);
    out += exponent < 0 ? "e-" : "e+";
    if (abs_exp < 10) out += "0";
    out += std::to_string(abs_exp);
  } else if (decpt <= 0) {
    out += "0." + std::string(static_cast<std::size_t>(-decpt), '0') + digits;
  } else if (decpt >= ndigits) {
    out += digits + std::string(static_cast<std::size_t>(decpt - ndigits), '0') + ".0";
  } else {
    out += digits.substr(0, static_cast<std::size_t>(decpt)) + "." + digits.substr(static_cast<std::size_t>(decpt));
  }
  return out;
}

namespace {

// Simple lowercase mapping of one code point (Python's str.lower() for the covered blocks).
char32_t lower_code_point(char32_t c) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 0x20 : c;
  if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 0x20;
  if (c >= 0x100 && c <= 0x17F) {
    if (c == 0x130 || c == 0x131 || c == 0x138 || c == 0x149 || c == 0x17F) return c;  // 0x130 handled by caller
    if (c == 0x178) return 0xFF;
    const bool odd_upper = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E);
    if (odd_upper) return (c % 2 == 1) ? c + 1 : c;
    return (c % 2 == 0) ? c + 1 : c;
  }
  if (c >= 0x370 && c <= 0x3FF) {
    if (c == 0x386) return 0x3AC;
    if (c >= 0x388 && c <= 0x38A) return c + 37;
    if (c == 0x38C) return 0x3CC;
    if (c == 0x38E || c == 0x38F) return c + 63;
    if ((c >= 0x391 && c <= 0x3A1) || (c >= 0x3A3 && c <= 0x3AB)) return c + 0x20;
    if (c == 0x3CF) return 0x3D7;
    if (c >= 0x3D8 && c <= 0x3EF) return (c % 2 == 0) ? c + 1 : c;
    if (c == 0x370 || c == 0x372 || c == 0x376) return c + 1;
    return c;
  }
  if (c >= 0x400 && c <= 0x52F) {
    if (c <= 0x40F) return c + 0x50;
    if (c <= 0x42F) return c + 0x20;
    if ((c >= 0x460 && c <= 0x481) || (c >= 0x48A && c <= 0x4BF) || (c >= 0x4D0 && c <= 0x52F))
      return (c % 2 == 0) ? c + 1 : c;
    if (c == 0x4C0) return 0x4CF;
    if (c >= 0x4C1 && c <= 0x4CE) return (c % 2 == 1) ? c + 1 : c;
    return c;
  }
  if (c >= 0x1E00 && c <= 0x1EFF) {
    if (c == 0x1E9E) return 0xDF;
    if ((c <= 0x1E95) || c >= 0x1EA0) return (c % 2 == 0) ? c + 1 : c;
    return c;
  }
  return c;
}

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

}  // namespace

std::string python_lower(std::string_view utf8) {
  std::string out;
  out.reserve(utf8.size());
  std::size_t i = 0;
  while (i < utf8.size()) {
    const auto byte = static_cast<unsigned char>(utf8[i]);
    if (byte < 0x80) {
      out.push_back(static_cast<char>(byte >= 'A' && byte <= 'Z' ? byte + 0x20 : byte));
      ++i;
      continue;
    }
    std::size_t length;
    char32_t c;
    if ((byte & 0xE0) == 0xC0) {
      length = 2;
      c = byte & 0x1F;
    } else if ((byte & 0xF0) == 0xE0) {
      length = 3;
      c = byte & 0x0F;
    } else if ((byte & 0xF8) == 0xF0) {
      length = 4;
      c = byte & 0x07;
    } else {
      throw std::invalid_argument("python_lower: invalid UTF-8 lead byte at offset " + std::to_string(i));
    }
    if (i + length > utf8.size())
      throw std::invalid_argument("python_lower: truncated UTF-8 sequence at offset " + std::to_string(i));
    for (std::size_t k = 1; k < length; ++k) {
      const auto cont = static_cast<unsigned char>(utf8[i + k]);
      if ((cont & 0xC0) != 0x80)
        throw std::invalid_argument("python_lower: invalid UTF-8 continuation byte at offset " +
                                    std::to_string(i + k));
      c = (c << 6) | (cont & 0x3F);
    }
    if (c == 0x130) {  // 'İ' lowercases to 'i' + COMBINING DOT ABOVE
      out.push_back('i');
      append_utf8(out, 0x307);
    } else {
      append_utf8(out, lower_code_point(c));
    }
    i += length;
  }
  return out;
}

}  // namespace biaslab::eval
