#include "biaslab/runtime/linear.hpp"

#include <mutex>
#include <stdexcept>

namespace biaslab::runtime {

LinearKernel::~LinearKernel() = default;

// --- FloatLinear ---------------------------------------------------------------------------------

FloatLinear::FloatLinear(torch::Tensor weight, std::optional<torch::Tensor> bias)
    : weight_(std::move(weight)), bias_(std::move(bias)) {
  if (!weight_.defined() || weight_.dim() != 2) {
    throw std::invalid_argument("FloatLinear: weight must be a 2-D tensor [out_features, in_features]");
  }
  if (!weight_.is_floating_point()) {
    throw std::invalid_argument("FloatLinear: weight must be a floating-point tensor");
  }
  if (bias_) {
    if (!bias_->defined()) {
      bias_.reset();
    } else if (bias_->dim() != 1 || bias_->size(0) != weight_.size(0)) {
      throw std::invalid_argument("FloatLinear: bias must be 1-D with out_features = " +
                                  std::to_string(weight_.size(0)) + " elements");
    }
  }
}

torch::Tensor FloatLinear::forward(const torch::Tensor& x) const {
  const auto compute_dtype = weight_.scalar_type();
  torch::Tensor y;
  if (bias_) {
    y = torch::linear(x.to(compute_dtype), weight_, bias_->to(compute_dtype));
  } else {
    y = torch::linear(x.to(compute_dtype), weight_);
  }
  return y.to(x.scalar_type());
}

std::int64_t FloatLinear::in_features() const { return weight_.size(1); }
std::int64_t FloatLinear::out_features() const { return weight_.size(0); }

torch::Tensor FloatLinear::weight() const { return weight_.to(torch::kFloat32).clone(); }

std::int64_t FloatLinear::storage_bytes() const {
  std::int64_t bytes = weight_.numel() * static_cast<std::int64_t>(weight_.element_size());
  if (bias_) bytes += bias_->numel() * static_cast<std::int64_t>(bias_->element_size());
  return bytes;
}

void FloatLinear::serialize(std::map<std::string, torch::Tensor>& tensors, nlohmann::json& meta) const {
  tensors["weight"] = weight_;
  if (bias_) tensors["bias"] = *bias_;
  if (!meta.is_object()) meta = nlohmann::json::object();
}

void FloatLinear::to(const torch::Device& device) {
  weight_ = weight_.to(device);
  if (bias_) bias_ = bias_->to(device);
}

// --- format registry -----------------------------------------------------------------------------

namespace {

std::shared_ptr<LinearKernel> load_float_kernel(const std::map<std::string, torch::Tensor>& tensors,
                                                const nlohmann::json& /*meta*/) {
  auto w = tensors.find("weight");
  if (w == tensors.end()) throw std::runtime_error("float linear kernel: tensor 'weight' is missing");
  for (const auto& [name, t] : tensors) {
    if (name != "weight" && name != "bias") {
      throw std::runtime_error("float linear kernel: unexpected tensor '" + name + "'");
    }
  }
  std::optional<torch::Tensor> bias;
  if (auto b = tensors.find("bias"); b != tensors.end()) bias = b->second;
  return std::make_shared<FloatLinear>(w->second, bias);
}

struct FormatRegistry {
  std::mutex mutex;
  std::map<std::string, LinearKernelLoader> loaders{{"float", load_float_kernel}};
};

FormatRegistry& registry() {
  static FormatRegistry r;  // function-local: safe to use from other static initialisers
  return r;
}

}  // namespace

void register_linear_format(const std::string& format, LinearKernelLoader loader) {
  if (format.empty()) throw std::invalid_argument("register_linear_format: empty format name");
  if (!loader) throw std::invalid_argument("register_linear_format: empty loader for '" + format + "'");
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  // Re-registration replaces: a plugin reloaded into the same process registers again.
  r.loaders[format] = std::move(loader);
}

std::shared_ptr<LinearKernel> load_linear_kernel(const std::string& format,
                                                 const std::map<std::string, torch::Tensor>& tensors,
                                                 const nlohmann::json& meta) {
  LinearKernelLoader loader;
  {
    auto& r = registry();
    std::lock_guard lock(r.mutex);
    auto it = r.loaders.find(format);
    if (it == r.loaders.end()) {
      std::string known;
      for (const auto& [name, _] : r.loaders) known += (known.empty() ? "" : ", ") + name;
      throw std::runtime_error("unknown linear kernel format '" + format + "' (registered: " + known + ")");
    }
    loader = it->second;
  }
  auto kernel = loader(tensors, meta);
  if (!kernel) throw std::runtime_error("linear kernel loader for '" + format + "' returned nothing");
  return kernel;
}

// --- Linear slot ---------------------------------------------------------------------------------

Linear::Linear(std::string name, std::shared_ptr<LinearKernel> kernel)
    : name_(std::move(name)), kernel_(std::move(kernel)) {
  if (!kernel_) throw std::invalid_argument("Linear '" + name_ + "': null kernel");
}

torch::Tensor Linear::operator()(const torch::Tensor& x) const {
  if (observer_) observer_(name_, x);
  return kernel_->forward(x);
}

void Linear::set_kernel(std::shared_ptr<LinearKernel> kernel) {
  if (!kernel) throw std::invalid_argument("Linear '" + name_ + "': null kernel");
  if (kernel->in_features() != kernel_->in_features() || kernel->out_features() != kernel_->out_features()) {
    throw std::invalid_argument("Linear '" + name_ + "': new kernel is " + std::to_string(kernel->out_features()) +
                                "x" + std::to_string(kernel->in_features()) + ", slot expects " +
                                std::to_string(kernel_->out_features()) + "x" +
                                std::to_string(kernel_->in_features()));
  }
  kernel_ = std::move(kernel);
}

}  // namespace biaslab::runtime
