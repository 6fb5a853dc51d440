#include "biaslab/runtime/ops/dynamic_int8_linear.hpp"

#include <ATen/core/dispatch/Dispatcher.h>

#include "biaslab/runtime/row_groups.hpp"

#include <algorithm>
#include <limits>
#include <mutex>
#include <sstream>
#include <stdexcept>

namespace biaslab::runtime::ops {
namespace {

struct EngineName {
  const char* name;
  at::QEngine engine;
};
constexpr EngineName kEngineNames[] = {{"onednn", at::kONEDNN},
                                       {"qnnpack", at::kQNNPACK},
                                       {"fbgemm", at::kFBGEMM},
                                       {"x86", at::kX86}};

std::string engine_name(at::QEngine engine) {
  for (const auto& e : kEngineNames)
    if (e.engine == engine) return e.name;
  return "none";
}

at::QEngine engine_from_name(const std::string& name) {
  for (const auto& e : kEngineNames)
    if (name == e.name) return e.engine;
  throw std::invalid_argument("dynamic_int8: unknown quantized engine '" + name +
                              "' (known: onednn, qnnpack, fbgemm, x86)");
}

// The quantized engine is process-global state in libtorch and decides which packed-weight
// implementation quantized::linear_prepack builds. Switch it only under this lock and restore
// it afterwards so other code keeps whatever engine it selected.
std::mutex& engine_mutex() {
  static std::mutex mutex;
  return mutex;
}

class EngineGuard {
 public:
  explicit EngineGuard(at::QEngine engine) : lock_(engine_mutex()), previous_(at::globalContext().qEngine()) {
    at::globalContext().setQEngine(engine);
  }
  ~EngineGuard() { at::globalContext().setQEngine(previous_); }
  EngineGuard(const EngineGuard&) = delete;
  EngineGuard& operator=(const EngineGuard&) = delete;

 private:
  std::lock_guard<std::mutex> lock_;
  at::QEngine previous_;
};

c10::OperatorHandle op(const char* name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, "");
}

c10::IValue prepack(const torch::Tensor& qweight, const std::optional<torch::Tensor>& bias,
                    const std::string& engine) {
  static const c10::OperatorHandle handle = op("quantized::linear_prepack");
  require_quantized_engine(engine);
  EngineGuard guard(engine_from_name(engine));
  std::vector<c10::IValue> stack;
  stack.emplace_back(qweight);
  if (bias) {
    stack.emplace_back(*bias);
  } else {
    stack.emplace_back(c10::IValue());
  }
  handle.callBoxed(&stack);
  return stack.at(0);
}

// Scales of torch.ao.quantization's MinMaxObserver / PerChannelMinMaxObserver for qint8
// symmetric schemes (quant range [-128, 127]), with the same float32 tensor arithmetic.
torch::Tensor symmetric_observer_scales(const torch::Tensor& min_val, const torch::Tensor& max_val) {
  auto min_neg = torch::min(min_val, torch::zeros_like(min_val));
  auto max_pos = torch::max(max_val, torch::zeros_like(max_val));
  max_pos = torch::max(-min_neg, max_pos);
  auto scale = max_pos / (static_cast<double>(127 - (-128)) / 2);
  auto eps = torch::tensor({std::numeric_limits<float>::epsilon()}, torch::kFloat);
  return torch::max(scale, eps);
}

std::string shape_of(const torch::Tensor& t) {
  std::ostringstream out;
  out << t.sizes() << " " << t.dtype();
  return out.str();
}

torch::Tensor to_quantized(const torch::Tensor& int_weight, const torch::Tensor& scales,
                           const torch::Tensor& zero_points, Int8WeightScheme scheme) {
  if (scheme == Int8WeightScheme::per_tensor) {
    return at::_make_per_tensor_quantized_tensor(int_weight, scales.item<double>(),
                                                 zero_points.item<std::int64_t>());
  }
  return at::_make_per_channel_quantized_tensor(int_weight, scales.to(torch::kDouble),
                                                zero_points.to(torch::kLong), /*axis=*/0);
}

}  // namespace

std::string to_string(Int8WeightScheme scheme) {
  return scheme == Int8WeightScheme::per_tensor ? "per_tensor" : "per_channel";
}

Int8WeightScheme int8_weight_scheme_from_string(const std::string& text) {
  if (text == "per_tensor") return Int8WeightScheme::per_tensor;
  if (text == "per_channel") return Int8WeightScheme::per_channel;
  throw std::invalid_argument("dynamic_int8: unknown weight scheme '" + text +
                              "' (expected per_tensor or per_channel)");
}

std::string to_string(ActivationRange range) {
  switch (range) {
    case ActivationRange::per_sequence: return "per_sequence";
    case ActivationRange::per_token: return "per_token";
    case ActivationRange::per_batch: return "per_batch";
  }
  return "per_sequence";
}

ActivationRange activation_range_from_string(const std::string& text) {
  if (text == "per_sequence") return ActivationRange::per_sequence;
  if (text == "per_token") return ActivationRange::per_token;
  if (text == "per_batch") return ActivationRange::per_batch;
  throw std::invalid_argument("dynamic_int8: unknown activation_range '" + text +
                              "' (expected per_sequence, per_token or per_batch)");
}

std::pair<torch::Tensor, torch::Tensor> per_row_activation_qparams(const torch::Tensor& x, bool reduce_range) {
  // ChooseQuantizationParams (ATen/native/quantized/cpu/QuantUtils.h, torch 1.13) with qmin = 0,
  // qmax = 255 (127 with reduce_range), vectorised over rows with the same float/double steps;
  // tests/compress checks it against torch's own _choose_qparams_per_tensor.
  constexpr float kSmallScale = 6.1e-5F;  // SMALL_SCALE_THRESHOLD
  const double qmin = 0, qmax = reduce_range ? 127 : 255;
  auto [row_min, row_max] = torch::aminmax(x.to(torch::kFloat), /*dim=*/1);
  auto lo = torch::clamp_max(row_min, 0.0F);  // float, as torch's min/max
  auto hi = torch::clamp_min(row_max, 0.0F);
  auto scale = (hi.to(torch::kDouble) - lo.to(torch::kDouble)) / (qmax - qmin);
  const auto scale_f = scale.to(torch::kFloat);
  scale = torch::where(scale_f.eq(0) | torch::isinf(1.0F / scale_f), torch::full_like(scale, 0.1), scale);
  // Scales below the threshold are raised to it and the range widened to match.
  const auto small = scale < static_cast<double>(kSmallScale);
  if (small.any().item<bool>()) {
    const auto amplifier = kSmallScale / scale.to(torch::kFloat);
    const auto widened = torch::full_like(lo, kSmallScale * static_cast<float>(qmax - qmin));
    const auto lo_small = torch::where(lo.eq(0), lo, torch::where(hi.eq(0), -widened, lo * amplifier));
    const auto hi_small = torch::where(lo.eq(0), widened, torch::where(hi.eq(0), hi, hi * amplifier));
    lo = torch::where(small, lo_small, lo);
    hi = torch::where(small, hi_small, hi);
    scale = torch::where(small, torch::full_like(scale, static_cast<double>(kSmallScale)), scale);
  }
  const auto lo_d = lo.to(torch::kDouble), hi_d = hi.to(torch::kDouble);
  const auto from_min = qmin - lo_d / scale, from_max = qmax - hi_d / scale;
  const auto err_min = std::abs(qmin) - torch::abs(lo_d / scale), err_max = std::abs(qmax) - torch::abs(hi_d / scale);
  const auto initial = torch::where(err_min < err_max, from_min, from_max);
  const auto zero_point = torch::clamp(torch::round(initial), qmin, qmax).to(torch::kLong);
  return {scale.to(torch::kFloat), zero_point};
}

std::vector<std::string> available_quantized_engines() {
  std::vector<std::string> names;
  for (auto engine : at::globalContext().supportedQEngines())
    if (engine != at::kNoQEngine) names.push_back(engine_name(engine));
  return names;
}

void require_quantized_engine(const std::string& engine) {
  const auto wanted = engine_from_name(engine);
  const auto& supported = at::globalContext().supportedQEngines();
  if (std::find(supported.begin(), supported.end(), wanted) != supported.end()) return;
  std::string list;
  for (const auto& name : available_quantized_engines()) list += (list.empty() ? "" : ", ") + name;
  throw std::invalid_argument("dynamic_int8: quantized engine '" + engine +
                              "' is not available in this libtorch (available: " + list + ")");
}

std::shared_ptr<DynamicInt8Linear> DynamicInt8Linear::quantize(const torch::Tensor& weight,
                                                               std::optional<torch::Tensor> bias,
                                                               const DynamicInt8Options& options) {
  if (weight.dim() != 2 || weight.numel() == 0)
    throw std::invalid_argument("dynamic_int8: weight must be a non-empty [out, in] matrix, got " +
                                shape_of(weight));
  if (!weight.device().is_cpu())
    throw std::invalid_argument("dynamic_int8: weight must be on the CPU");
  torch::NoGradGuard no_grad;
  const auto w = weight.detach().to(torch::kFloat).contiguous();
  torch::Tensor qweight;
  torch::Tensor scales;
  if (options.scheme == Int8WeightScheme::per_tensor) {
    auto [min_val, max_val] = torch::aminmax(w);
    scales = symmetric_observer_scales(min_val, max_val).reshape({1});
    qweight = at::quantize_per_tensor(w, scales.item<double>(), 0, at::kQInt8);
  } else {
    auto [min_val, max_val] = torch::aminmax(w, /*dim=*/1);
    scales = symmetric_observer_scales(min_val, max_val);
    qweight = at::quantize_per_channel(w, scales.to(torch::kDouble),
                                       torch::zeros({w.size(0)}, torch::kLong), 0, at::kQInt8);
  }
  auto zero_points = torch::zeros(scales.sizes(), torch::kInt);
  return std::make_shared<DynamicInt8Linear>(qweight.int_repr(), scales, zero_points, std::move(bias),
                                             options);
}

DynamicInt8Linear::DynamicInt8Linear(torch::Tensor int_weight, torch::Tensor scales,
                                     torch::Tensor zero_points, std::optional<torch::Tensor> bias,
                                     const DynamicInt8Options& options)
    : options_(options) {
  if (int_weight.dim() != 2 || int_weight.scalar_type() != torch::kChar || int_weight.numel() == 0)
    throw std::invalid_argument("dynamic_int8: qweight must be a non-empty int8 [out, in] matrix, got " +
                                shape_of(int_weight));
  const auto out = int_weight.size(0);
  const auto expected = options.scheme == Int8WeightScheme::per_tensor ? 1 : out;
  if (scales.dim() != 1 || scales.size(0) != expected || !scales.is_floating_point())
    throw std::invalid_argument("dynamic_int8: scales must be a float vector of " + std::to_string(expected) +
                                " elements for scheme " + to_string(options.scheme) + ", got " +
                                shape_of(scales));
  if (zero_points.dim() != 1 || zero_points.size(0) != expected || zero_points.is_floating_point())
    throw std::invalid_argument("dynamic_int8: zero_points must be an integer vector of " +
                                std::to_string(expected) + " elements, got " + shape_of(zero_points));
  if (!(scales > 0).all().item<bool>())
    throw std::invalid_argument("dynamic_int8: scales must be positive");
  if (bias) {
    if (bias->dim() != 1 || bias->size(0) != out)
      throw std::invalid_argument("dynamic_int8: bias must have " + std::to_string(out) +
                                  " elements, got " + shape_of(*bias));
    bias_ = bias->detach().to(torch::kCPU, torch::kFloat).contiguous();
  }
  int_weight_ = int_weight.to(torch::kCPU).contiguous();
  scales_ = scales.to(torch::kCPU, torch::kFloat).contiguous();
  zero_points_ = zero_points.to(torch::kCPU, torch::kInt).contiguous();
  const auto qweight = to_quantized(int_weight_, scales_, zero_points_, options.scheme);
  packed_ = prepack(qweight, bias_, options.engine);
}

DynamicInt8Linear::~DynamicInt8Linear() = default;

torch::Tensor DynamicInt8Linear::forward(const torch::Tensor& x) const {
  if (x.dim() < 1 || x.size(-1) != in_features())
    throw std::invalid_argument("dynamic_int8: input last dimension must be " +
                                std::to_string(in_features()) + ", got " + shape_of(x));
  if (!x.device().is_cpu())
    throw std::invalid_argument("dynamic_int8: input must be on the CPU (quantized::linear_dynamic is CPU-only)");
  torch::NoGradGuard no_grad;
  const auto x2d = x.to(torch::kFloat).reshape({-1, in_features()}).contiguous();
  torch::Tensor y;
  switch (options_.activation_range) {
    case ActivationRange::per_batch: y = kernel_forward(x2d); break;
    case ActivationRange::per_sequence: y = per_sequence_forward(x2d); break;
    case ActivationRange::per_token: y = per_token_forward(x2d); break;
  }
  auto out_shape = x.sizes().vec();
  out_shape.back() = out_features();
  return y.reshape(out_shape).to(x.scalar_type());
}

torch::Tensor DynamicInt8Linear::kernel_forward(const torch::Tensor& x2d) const {
  static const c10::OperatorHandle handle = op("quantized::linear_dynamic");
  // QNNPACK ignores reduce_range (and warns on every call when it is set); passing false there
  // gives the identical result without the warning.
  const bool reduce_range = options_.reduce_range && options_.engine != "qnnpack";
  std::vector<c10::IValue> stack{c10::IValue(x2d), packed_, c10::IValue(reduce_range)};
  handle.callBoxed(&stack);
  return stack.at(0).toTensor();
}

torch::Tensor DynamicInt8Linear::per_sequence_forward(const torch::Tensor& x2d) const {
  const RowGroups* groups = current_row_groups();
  if (groups == nullptr) return kernel_forward(x2d);  // one sequence per call
  const auto rows = x2d.size(0);
  if (groups->rows != rows)
    throw std::logic_error("dynamic_int8: the forward pass describes " + std::to_string(groups->rows) +
                           " rows, the layer received " + std::to_string(rows));
  auto y = torch::empty({rows, out_features()}, torch::kFloat);
  // One kernel call per sequence over its real rows: the range the sequence has when run alone.
  auto run_rows = [&](const std::vector<RowSpan>& spans) {
    std::vector<torch::Tensor> parts;
    std::int64_t n = 0;
    for (const auto& s : spans) {
      if (s.end <= s.begin) continue;
      parts.push_back(x2d.narrow(0, s.begin, s.end - s.begin));
      n += s.end - s.begin;
    }
    if (n == 0) return;
    const auto out = kernel_forward(parts.size() == 1 ? parts[0] : torch::cat(parts));
    std::int64_t offset = 0;
    for (const auto& s : spans) {
      if (s.end <= s.begin) continue;
      y.narrow(0, s.begin, s.end - s.begin).copy_(out.narrow(0, offset, s.end - s.begin));
      offset += s.end - s.begin;
    }
  };
  for (const auto& group : groups->groups) run_rows(group);
  run_rows(groups->uncovered());  // padding: computed together, never read by real positions
  return y;
}

torch::Tensor DynamicInt8Linear::per_token_forward(const torch::Tensor& x2d) const {
  const bool reduce_range = options_.reduce_range && options_.engine != "qnnpack";
  const double qmax = reduce_range ? 127 : 255;
  auto [scales, zero_points] = per_row_activation_qparams(x2d, reduce_range);
  // torch's quantize: zero_point + nearbyint(x * (1 / scale)), clamped; here minus the zero point.
  auto inv = (1.0F / scales).unsqueeze(1);
  auto zp = zero_points.to(torch::kFloat).unsqueeze(1);
  auto centered = torch::clamp(torch::round(x2d * inv) + zp, 0.0, qmax) - zp;  // integers in [-255, 255]
  // |centered| <= 255 and |w| <= 128: a chunk of 512 products sums to < 2^24, exact in float32 in
  // any order; the chunk sums are added in float64 (exact too), so the integer result -- and thus
  // every output row -- is independent of GEMM blocking, batch size and thread count.
  // (in_features <= 512, e.g. most of a 70m model: one float32 GEMM is already exact.)
  constexpr std::int64_t kChunk = 512;
  const auto& w = float_weight();
  torch::Tensor acc;
  if (in_features() <= kChunk) {
    acc = torch::matmul(centered, w.t());  // one chunk: already exact in float32
  } else {
    acc = torch::zeros({x2d.size(0), out_features()}, torch::kDouble);
    for (std::int64_t k0 = 0; k0 < in_features(); k0 += kChunk) {
      const auto k = std::min(kChunk, in_features() - k0);
      acc += torch::matmul(centered.narrow(1, k0, k), w.narrow(1, k0, k).t()).to(torch::kDouble);
    }
  }
  auto w_scale = options_.scheme == Int8WeightScheme::per_tensor ? scales_.expand({out_features()}) : scales_;
  // Exact integers in, one rounding per element out: still independent of the batch.
  auto out = acc.to(torch::kFloat) * (scales.unsqueeze(1) * w_scale.unsqueeze(0));
  if (bias_) out += *bias_;
  return out;
}

const torch::Tensor& DynamicInt8Linear::float_weight() const {
  std::call_once(float_weight_once_, [this] { float_weight_ = int_weight_.to(torch::kFloat); });
  return float_weight_;
}

std::int64_t DynamicInt8Linear::in_features() const { return int_weight_.size(1); }
std::int64_t DynamicInt8Linear::out_features() const { return int_weight_.size(0); }

torch::Tensor DynamicInt8Linear::weight() const {
  auto scale = options_.scheme == Int8WeightScheme::per_tensor ? scales_ : scales_.unsqueeze(1);
  auto zero = options_.scheme == Int8WeightScheme::per_tensor ? zero_points_ : zero_points_.unsqueeze(1);
  return (int_weight_.to(torch::kFloat) - zero.to(torch::kFloat)) * scale;
}

std::int64_t DynamicInt8Linear::storage_bytes() const {
  std::map<std::string, torch::Tensor> tensors;
  nlohmann::json meta;
  serialize(tensors, meta);
  std::int64_t bytes = 0;
  for (const auto& [name, tensor] : tensors) bytes += tensor.numel() * static_cast<std::int64_t>(tensor.element_size());
  return bytes;
}

void DynamicInt8Linear::serialize(std::map<std::string, torch::Tensor>& tensors, nlohmann::json& meta) const {
  tensors["qweight"] = int_weight_;
  tensors["scales"] = scales_;
  tensors["zero_points"] = zero_points_;
  if (bias_) tensors["bias"] = *bias_;
  meta["scheme"] = to_string(options_.scheme);
  meta["engine"] = options_.engine;
  meta["reduce_range"] = options_.reduce_range;
  meta["activation_range"] = to_string(options_.activation_range);
  meta["in_features"] = in_features();
  meta["out_features"] = out_features();
}

void DynamicInt8Linear::to(const torch::Device& device) {
  if (!device.is_cpu())
    throw std::invalid_argument("dynamic_int8: cannot move layer to " + device.str() +
                                ": quantized::linear_dynamic runs on the CPU only");
}

std::shared_ptr<LinearKernel> DynamicInt8Linear::load(const std::map<std::string, torch::Tensor>& tensors,
                                                      const nlohmann::json& meta) {
  auto tensor = [&](const char* name) -> const torch::Tensor& {
    auto it = tensors.find(name);
    if (it == tensors.end())
      throw std::runtime_error(std::string("dynamic_int8: missing tensor '") + name + "'");
    return it->second;
  };
  if (!meta.is_object() || !meta.contains("scheme") || !meta["scheme"].is_string())
    throw std::runtime_error("dynamic_int8: metadata key 'scheme' (string) is missing");
  DynamicInt8Options options;
  options.scheme = int8_weight_scheme_from_string(meta["scheme"].get<std::string>());
  if (meta.contains("engine")) {
    if (!meta["engine"].is_string()) throw std::runtime_error("dynamic_int8: metadata key 'engine' must be a string");
    options.engine = meta["engine"].get<std::string>();
  }
  if (meta.contains("reduce_range")) {
    if (!meta["reduce_range"].is_boolean())
      throw std::runtime_error("dynamic_int8: metadata key 'reduce_range' must be a boolean");
    options.reduce_range = meta["reduce_range"].get<bool>();
  }
  options.activation_range = ActivationRange::per_batch;  // saved before the option existed
  if (meta.contains("activation_range")) {
    if (!meta["activation_range"].is_string())
      throw std::runtime_error("dynamic_int8: metadata key 'activation_range' must be a string");
    options.activation_range = activation_range_from_string(meta["activation_range"].get<std::string>());
  }
  std::optional<torch::Tensor> bias;
  if (auto it = tensors.find("bias"); it != tensors.end()) bias = it->second;
  const auto& qweight = tensor("qweight");
  for (const char* key : {"in_features", "out_features"}) {
    if (!meta.contains(key)) continue;
    const auto dim = std::string(key) == "in_features" ? 1 : 0;
    if (!meta[key].is_number_integer() || qweight.dim() != 2 || meta[key].get<std::int64_t>() != qweight.size(dim))
      throw std::runtime_error(std::string("dynamic_int8: metadata '") + key +
                               "' does not match tensor 'qweight' " + shape_of(qweight));
  }
  return std::make_shared<DynamicInt8Linear>(qweight, tensor("scales"), tensor("zero_points"), bias, options);
}

}  // namespace biaslab::runtime::ops

namespace biaslab::runtime::ops {

DynamicInt8Options DynamicInt8Options::from_json(const nlohmann::json& json) {
  if (!json.is_object()) throw std::invalid_argument("dynamic_int8: options must be a JSON object");
  DynamicInt8Options options;
  for (const auto& [key, value] : json.items()) {
    if (key == "scheme") {
      if (!value.is_string()) throw std::invalid_argument("dynamic_int8: 'scheme' must be a string");
      options.scheme = int8_weight_scheme_from_string(value.get<std::string>());
    } else if (key == "engine") {
      if (!value.is_string()) throw std::invalid_argument("dynamic_int8: 'engine' must be a string");
      options.engine = value.get<std::string>();
      require_quantized_engine(options.engine);
    } else if (key == "reduce_range") {
      if (!value.is_boolean()) throw std::invalid_argument("dynamic_int8: 'reduce_range' must be a boolean");
      options.reduce_range = value.get<bool>();
    } else if (key == "activation_range") {
      if (!value.is_string()) throw std::invalid_argument("dynamic_int8: 'activation_range' must be a string");
      options.activation_range = activation_range_from_string(value.get<std::string>());
    } else if (key == "bits") {
      if (!value.is_number_integer() || value.get<std::int64_t>() != 8)
        throw std::invalid_argument("dynamic_int8: only 8-bit weights and activations are supported, got bits=" +
                                    value.dump() + " (use the weight_only format for 2/3/4-bit weights)");
    } else {
      throw std::invalid_argument("dynamic_int8: unknown option '" + key +
                                  "' (known: scheme, engine, reduce_range, activation_range, bits)");
    }
  }
  return options;
}

}  // namespace biaslab::runtime::ops
