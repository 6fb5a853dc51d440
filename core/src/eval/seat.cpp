#include "biaslab/eval/seat.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <unordered_set>

#include "biaslab/eval/python_numeric.hpp"
#include "eval/file_io.hpp"

namespace biaslab::eval {

// ---- loading --------------------------------------------------------------------------------------

namespace {

SeatSet parse_set(const nlohmann::json& root, const char* key, const std::string& source, std::size_t& duplicates) {
  const std::string where = source + ": " + key;
  const auto& object = detail::object_member(root, key, source);
  SeatSet set;
  set.category = detail::string_member(object, "category", where);
  const auto& examples = detail::array_member(object, "examples", where);
  std::unordered_set<std::string> seen;
  for (std::size_t i = 0; i < examples.size(); ++i) {
    if (!examples[i].is_string())
      throw std::runtime_error(where + ".examples[" + std::to_string(i) + "] is not a string");
    auto text = examples[i].get<std::string>();
    if (!seen.insert(text).second) {
      ++duplicates;
      continue;
    }
    set.examples.push_back(std::move(text));
  }
  return set;
}

// bias-bench _test_sort_key: alternating text / integer pieces.
struct SortPiece {
  bool numeric;
  std::string text;  // numeric pieces: digits without leading zeros
};

std::vector<SortPiece> sort_key(std::string_view name) {
  std::vector<SortPiece> key;
  std::string text;
  std::size_t i = 0;
  while (i < name.size()) {
    if (name[i] >= '0' && name[i] <= '9') {
      key.push_back({false, text});
      text.clear();
      std::size_t j = i;
      while (j < name.size() && name[j] >= '0' && name[j] <= '9') ++j;
      std::string digits(name.substr(i, j - i));
      digits.erase(0, std::min(digits.find_first_not_of('0'), digits.size() - 1));
      key.push_back({true, digits});
      i = j;
    } else {
      text.push_back(name[i++]);
    }
  }
  key.push_back({false, text});
  return key;
}

}  // namespace

SeatTest load_seat_test(const std::filesystem::path& file) {
  const std::string source = file.string();
  const nlohmann::json root = detail::parse_json(detail::read_file(file), source);
  SeatTest test;
  test.name = file.stem().string();
  test.targ1 = parse_set(root, "targ1", source, test.duplicates_removed);
  test.targ2 = parse_set(root, "targ2", source, test.duplicates_removed);
  test.attr1 = parse_set(root, "attr1", source, test.duplicates_removed);
  test.attr2 = parse_set(root, "attr2", source, test.duplicates_removed);
  return test;
}

bool seat_test_name_less(std::string_view a, std::string_view b) {
  const auto ka = sort_key(a);
  const auto kb = sort_key(b);
  for (std::size_t i = 0; i < ka.size() && i < kb.size(); ++i) {
    const auto& pa = ka[i];
    const auto& pb = kb[i];
    if (pa.numeric) {  // positions alternate identically in both keys
      if (pa.text.size() != pb.text.size()) return pa.text.size() < pb.text.size();
    }
    if (pa.text != pb.text) return pa.text < pb.text;
  }
  return ka.size() < kb.size();
}

std::vector<std::string> list_seat_tests(const std::filesystem::path& directory) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(directory)) {
    const std::string file = entry.path().filename().string();
    if (file.empty() || file.front() == '.' || !file.ends_with(".jsonl")) continue;
    names.push_back(file.substr(0, file.size() - 6));
  }
  std::sort(names.begin(), names.end(), seat_test_name_less);
  return names;
}

const std::vector<std::string>& bias_bench_seat_tests() {
  static const std::vector<std::string> tests = {
      "sent-religion1", "sent-religion1b", "sent-religion2", "sent-religion2b",
      "sent-angry_black_woman_stereotype", "sent-angry_black_woman_stereotype_b",
      "sent-weat3", "sent-weat3b", "sent-weat4", "sent-weat5", "sent-weat5b",
      "sent-weat6", "sent-weat6b", "sent-weat7", "sent-weat7b", "sent-weat8", "sent-weat8b"};
  return tests;
}

// ---- cosine similarities ------------------------------------------------------------------------

namespace {

// Sum of the first n (a multiple of 32) products, in the order of OpenBLAS' sdot_kernel_16.
float skylakex_kernel(const float* x, const float* y, std::size_t n) {
  float acc[4][8] = {};
  std::size_t i = 0;
  const std::size_t n64 = n & ~static_cast<std::size_t>(63);
  float wide[4][16] = {};
  for (; i < n64; i += 64)
    for (int k = 0; k < 4; ++k)
      for (int l = 0; l < 16; ++l) wide[k][l] = std::fmaf(x[i + 16 * k + l], y[i + 16 * k + l], wide[k][l]);
  for (int k = 0; k < 4; ++k)
    for (int l = 0; l < 8; ++l) acc[k][l] = wide[k][l] + wide[k][l + 8];  // extractf32x8(0) + (1)
  for (; i < n; i += 32)
    for (int k = 0; k < 4; ++k)
      for (int l = 0; l < 8; ++l) acc[k][l] = std::fmaf(x[i + 8 * k + l], y[i + 8 * k + l], acc[k][l]);
  float a[8];
  for (int l = 0; l < 8; ++l) a[l] = ((acc[0][l] + acc[1][l]) + acc[2][l]) + acc[3][l];
  float h[4];
  for (int l = 0; l < 4; ++l) h[l] = a[l] + a[l + 4];  // extractf128(0) + (1)
  return (h[0] + h[1]) + (h[2] + h[3]);                  // two hadd
}

float haswell_kernel(const float* x, const float* y, std::size_t n) {
  float acc[4][8] = {};
  for (std::size_t i = 0; i < n; i += 32)
    for (int k = 0; k < 4; ++k)
      for (int l = 0; l < 8; ++l) acc[k][l] = std::fmaf(x[i + 8 * k + l], y[i + 8 * k + l], acc[k][l]);  // vfmadd231ps
  float half[4][4];
  for (int k = 0; k < 4; ++k)
    for (int l = 0; l < 4; ++l) half[k][l] = acc[k][l] + acc[k][l + 4];  // vextractf128 + vaddps
  float t[4];
  for (int l = 0; l < 4; ++l) t[l] = (half[0][l] + half[1][l]) + (half[2][l] + half[3][l]);
  return (t[0] + t[1]) + (t[2] + t[3]);  // two vhaddps
}

}  // namespace

float openblas_sdot(std::span<const float> x, std::span<const float> y, OpenBlasSdotKernel kernel) {
  if (x.size() != y.size()) throw std::invalid_argument("openblas_sdot: length mismatch");
  const std::size_t n = x.size();
  const std::size_t n1 = n & ~static_cast<std::size_t>(31);
  float mydot = 0.0f;
  if (n1 > 0)
    mydot = kernel == OpenBlasSdotKernel::skylakex ? skylakex_kernel(x.data(), y.data(), n1)
                                                   : haswell_kernel(x.data(), y.data(), n1);
  double dot = 0.0;  // the wrapper's tail: float products accumulated in double
  for (std::size_t i = n1; i < n; ++i) {
    const float product = y[i] * x[i];
    dot += product;
  }
  dot += mydot;
  return static_cast<float>(dot);
}

void seat_normalize_encoding(std::span<float> encoding, OpenBlasSdotKernel kernel) {
  const float norm = std::sqrt(openblas_sdot(encoding, encoding, kernel));  // np.sqrt of a float32 scalar
  for (float& value : encoding) value /= norm;
}

namespace {

double dot64(std::span<const float> x, std::span<const float> y) {
  double sum = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) sum += static_cast<double>(x[i]) * static_cast<double>(y[i]);
  return sum;
}

// weat.cossim for one pair.
double cosine(std::span<const float> x, std::span<const float> y, CosineArithmetic arithmetic) {
  if (arithmetic == CosineArithmetic::float64) return dot64(x, y) / std::sqrt(dot64(x, x) * dot64(y, y));
  const auto kernel = arithmetic == CosineArithmetic::openblas_skylakex_float32 ? OpenBlasSdotKernel::skylakex
                                                                                : OpenBlasSdotKernel::haswell;
  const float xy = openblas_sdot(x, y, kernel);
  const float norms = openblas_sdot(x, x, kernel) * openblas_sdot(y, y, kernel);  // np.float32 product
  return static_cast<double>(xy) / std::sqrt(static_cast<double>(norms));  // float32 / Python float
}

void check_matrix(const EmbeddingMatrix& m, const char* name, std::size_t dim) {
  if (m.values.size() != m.rows * m.dim)
    throw std::invalid_argument(std::string("WEAT: ") + name + " has " + std::to_string(m.values.size()) +
                                " values, expected rows*dim = " + std::to_string(m.rows * m.dim));
  if (m.dim != dim) throw std::invalid_argument(std::string("WEAT: ") + name + " has a different dimension");
  if (m.rows == 0) throw std::invalid_argument(std::string("WEAT: ") + name + " is empty");
}

// C(2n, n) compared with a limit without overflow (bias-bench: int(scipy.special.binom(2n, n))).
bool partitions_exceed(std::size_t n, std::size_t limit) {
  double value = 1.0;
  for (std::size_t k = 1; k <= n; ++k) {
    value = value * static_cast<double>(n + k) / static_cast<double>(k);
    if (value > static_cast<double>(limit) * 4.0) return true;
  }
  return std::llround(value) > static_cast<long long>(limit);
}

}  // namespace

namespace {

// Mean of one row of cossims[:, A] as numpy computes it: the fancy-indexed copy is column-major
// (strides (8, rows*8)), so the axis-1 reduction adds the columns one after another (a sequential sum)
// -- except for a single-row matrix, which is contiguous and summed pairwise.
double row_mean(const std::vector<double>& values, bool single_row) {
  if (single_row) return numpy_mean(values);
  double sum = 0.0;
  for (double v : values) sum += v;
  return sum / static_cast<double>(values.size());
}

std::vector<double> association_scores(const EmbeddingMatrix& X, const EmbeddingMatrix& Y, const EmbeddingMatrix& A,
                                       const EmbeddingMatrix& B, CosineArithmetic arithmetic, bool single_row) {
  const std::size_t nxy = 2 * X.rows;
  std::vector<double> s(nxy);
  std::vector<double> cos_a(A.rows), cos_b(B.rows);
  for (std::size_t w = 0; w < nxy; ++w) {
    const auto vec = w < X.rows ? X.row(w) : Y.row(w - X.rows);
    for (std::size_t a = 0; a < A.rows; ++a) cos_a[a] = cosine(vec, A.row(a), arithmetic);
    for (std::size_t b = 0; b < B.rows; ++b) cos_b[b] = cosine(vec, B.row(b), arithmetic);
    s[w] = row_mean(cos_a, single_row) - row_mean(cos_b, single_row);
  }
  return s;
}

void check_inputs(const EmbeddingMatrix& X, const EmbeddingMatrix& Y, const EmbeddingMatrix& A,
                  const EmbeddingMatrix& B) {
  const std::size_t dim = X.dim;
  check_matrix(X, "targ1", dim);
  check_matrix(Y, "targ2", dim);
  check_matrix(A, "attr1", dim);
  check_matrix(B, "attr2", dim);
  if (X.rows != Y.rows)
    throw std::invalid_argument("WEAT: targ1 and targ2 must have the same size (" + std::to_string(X.rows) + " vs " +
                                std::to_string(Y.rows) + ")");
}

}  // namespace

std::vector<double> weat_association_scores(const EmbeddingMatrix& X, const EmbeddingMatrix& Y,
                                            const EmbeddingMatrix& A, const EmbeddingMatrix& B,
                                            CosineArithmetic arithmetic) {
  check_inputs(X, Y, A, B);
  return association_scores(X, Y, A, B, arithmetic, /*single_row=*/false);  // the 2n-row cossims lookup
}

double weat_effect_size(std::span<const double> s, std::size_t size) {
  if (size == 0 || s.size() != 2 * size) throw std::invalid_argument("weat_effect_size: s must hold 2 * size values");
  // mean_s_wAB(X) - mean_s_wAB(Y), over stdev_s_wAB(X + Y) with ddof = 1.
  const double numerator = numpy_mean(s.first(size)) - numpy_mean(s.subspan(size));
  return numerator / numpy_std(s, 1);
}

WeatResult weat_p_value(std::span<const double> s, std::size_t size, NumpyRandomState& rng, std::size_t n_samples) {
  if (size == 0 || s.size() != 2 * size) throw std::invalid_argument("weat_p_value: s must hold 2 * size values");
  if (n_samples == 0) throw std::invalid_argument("weat_p_value: n_samples must be positive");
  const std::size_t nxy = 2 * size;
  WeatResult result;
  // s_XAB(Xi) = s_wAB_memo[Xi].sum(): gathered in index order, numpy pairwise sum.
  std::vector<double> gathered(size);
  auto statistic = [&](std::span<const std::int64_t> subset) {
    for (std::size_t i = 0; i < size; ++i) gathered[i] = s[static_cast<std::size_t>(subset[i])];
    return numpy_sum(gathered);
  };
  std::vector<std::int64_t> xy(nxy);  // np.concatenate((X, Y)) of the integer keys 0..2n-1
  for (std::size_t i = 0; i < nxy; ++i) xy[i] = static_cast<std::int64_t>(i);
  const double observed = statistic(std::span<const std::int64_t>(xy).first(size));
  auto count = [&](double si) {
    if (si > observed) {
      ++result.hits;
    } else if (si == observed) {  // "conservative test": ties count as hits
      ++result.hits;
      ++result.equalities;
    }
    ++result.total;
  };

  if (partitions_exceed(size, n_samples)) {
    result.hits = 1;  // "bias the p-value (hallucinate a positive observation)"
    result.total = 1;
    for (std::size_t k = 0; k + 1 < n_samples; ++k) {
      rng.shuffle(std::span<std::int64_t>(xy));  // cumulative, never reset
      count(statistic(std::span<const std::int64_t>(xy).first(size)));
    }
  } else {
    result.exact_test = true;
    // itertools.combinations(XY, n): lexicographic order of positions.
    std::vector<std::size_t> pick(size);
    for (std::size_t i = 0; i < size; ++i) pick[i] = i;
    std::vector<std::int64_t> subset(size);
    while (true) {
      for (std::size_t i = 0; i < size; ++i) subset[i] = xy[pick[i]];
      count(statistic(subset));
      std::size_t i = size;
      while (i > 0 && pick[i - 1] == i - 1 + nxy - size) --i;
      if (i == 0) break;
      ++pick[i - 1];
      for (std::size_t j = i; j < size; ++j) pick[j] = pick[j - 1] + 1;
    }
  }
  result.p_value = static_cast<double>(result.hits) / static_cast<double>(result.total);
  return result;
}

WeatResult run_weat(const EmbeddingMatrix& X, const EmbeddingMatrix& Y, const EmbeddingMatrix& A,
                    const EmbeddingMatrix& B, NumpyRandomState& rng, const WeatOptions& options) {
  const auto s = weat_association_scores(X, Y, A, B, options.cosine);
  WeatResult result = weat_p_value(s, X.rows, rng, options.n_samples);  // run_test: p-value first
  result.effect_size = weat_effect_size(s, X.rows);
  if (X.rows == 1) {
    // effect_size() takes the means from cossims[X] and cossims[Y]: one contiguous row each, reduced
    // pairwise; the std still comes from the 2-row cossims[X + Y].
    const auto single = association_scores(X, Y, A, B, options.cosine, /*single_row=*/true);
    result.effect_size = (single[0] - single[1]) / numpy_std(s, 1);
  }
  return result;
}

std::vector<SeatTestResult> run_seat(std::span<const SeatEncodedTest> tests, std::uint32_t seed,
                                     const WeatOptions& options) {
  NumpyRandomState rng(seed);
  std::vector<SeatTestResult> results;
  for (const auto& test : tests) {
    const auto weat = run_weat(test.targ1, test.targ2, test.attr1, test.attr2, rng, options);
    results.push_back({test.name, weat.effect_size, weat.p_value});
  }
  return results;
}

std::map<std::string, double> seat_mean_abs_effect_sizes(std::span<const SeatTestResult> results) {
  static const std::map<std::string, std::vector<std::string>> groups = {
      {"gender", {"sent-weat6", "sent-weat6b", "sent-weat7", "sent-weat7b", "sent-weat8", "sent-weat8b"}},
      {"race",
       {"sent-angry_black_woman_stereotype", "sent-angry_black_woman_stereotype_b", "sent-weat3", "sent-weat3b",
        "sent-weat4", "sent-weat5", "sent-weat5b"}},
      {"religion", {"sent-religion1", "sent-religion1b", "sent-religion2", "sent-religion2b"}},
  };
  std::map<std::string, double> means;
  for (const auto& [group, members] : groups) {
    double sum = 0.0;
    std::size_t count = 0;
    for (const auto& result : results)
      if (std::find(members.begin(), members.end(), result.test) != members.end()) {
        sum += std::fabs(result.effect_size);
        ++count;
      }
    if (count) means[group] = sum / static_cast<double>(count);
  }
  if (!results.empty()) {
    double sum = 0.0;
    for (const auto& result : results) sum += std::fabs(result.effect_size);
    means["all"] = sum / static_cast<double>(results.size());
  }
  return means;
}

}  // namespace biaslab::eval
