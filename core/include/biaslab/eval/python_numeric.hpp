#pragma once
// Floating-point arithmetic exactly as the Python reference implementations do it, so aggregated
// scores match bit for bit (last-digit differences flip rounded CrowS ties and StereoSet digits).
//
// * numpy reductions (np.sum / np.mean / np.std on float64) use numpy's pairwise summation: blocks of
//   up to 128 values summed with 8 interleaved accumulators, larger inputs split in halves (rounded
//   down to a multiple of 8), the reduction starting from the identity 0.0 (numpy 1.9 - 2.x).
// * Python's built-in sum() of floats adds left to right (CPython <= 3.11; 3.12 switched to a
//   compensated sum; the references ran on 3.11 / the papers on older versions).
// * round(): Python's float.__round__ is correctly rounded (half-even on the exact binary value);
//   numpy's np.round / np.float64.__round__ computes rint(x * 10**d) / 10**d, which differs near
//   halves (e.g. round(-14.3505, 3): Python -14.351, numpy -14.35). bias-bench rounds np.float64
//   values (numpy rule); nyu-mll metric.py rounds Python floats (Python rule).
#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include <biaslab/export.hpp>

namespace biaslab::eval {

// np.add.reduce over a contiguous float64 array (0.0 for an empty span).
BIASLAB_API double numpy_sum(std::span<const double> values);
// np.mean: numpy_sum / n (NaN for an empty span, where numpy warns and returns nan).
BIASLAB_API double numpy_mean(std::span<const double> values);
// np.std(values, ddof): sqrt(numpy_sum((x - mean)^2) / (n - ddof)); NaN when n <= ddof.
BIASLAB_API double numpy_std(std::span<const double> values, std::size_t ddof = 0);
// Python's sum(values) / len(values) with sequential addition (statistics of lm-eval, metric.py).
BIASLAB_API double python_sum(std::span<const double> values);
BIASLAB_API double python_mean(std::span<const double> values);

// Python round(x, ndigits) for a float: correctly rounded, ties to even on the exact binary value.
BIASLAB_API double python_round(double x, int ndigits);
// numpy round(x, decimals) for float64 (decimals >= 0): rint(x * 10**decimals) / 10**decimals.
BIASLAB_API double numpy_round(double x, int decimals);

// Python repr(float) / str(float): shortest round-trip digits, fixed notation for 1e-4 <= |x| < 1e16
// ("765.0", "0.30342"), otherwise exponent notation ("1e-05", "1.5e+16"); "nan", "inf", "-inf".
BIASLAB_API std::string python_float_repr(double x);

// Python str.lower() for UTF-8 text. Full case mapping for ASCII, Latin-1, Latin Extended-A, Greek and
// Cyrillic (what the benchmark files contain, incl. 'İ' -> "i̇"); other code points are kept. Greek
// final-sigma context rules are not applied. Invalid UTF-8 throws std::invalid_argument.
BIASLAB_API std::string python_lower(std::string_view utf8);

}  // namespace biaslab::eval
