#pragma once
// Linear layers of every architecture go through a named Linear slot holding a LinearKernel.
// Compressors swap the kernel (float -> dynamic int8, weight-only int4, sparse, ...) without the
// architecture knowing; calibration-based methods (GPTQ, Wanda, SmoothQuant) attach an observer
// that sees each slot's input activations.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "biaslab/export.hpp"

namespace biaslab::runtime {

// y = x W^T + b, in whatever representation. Implementations must be usable from several
// threads at once for forward() (inference only).
class BIASLAB_API LinearKernel {
 public:
  virtual ~LinearKernel();
  // x: [..., in_features] float tensor -> [..., out_features] in x's dtype.
  virtual torch::Tensor forward(const torch::Tensor& x) const = 0;
  virtual std::int64_t in_features() const = 0;
  virtual std::int64_t out_features() const = 0;
  // Stable format tag, stored in checkpoints: "float", "dynamic_int8", "weight_only", ...
  virtual std::string format() const = 0;
  // Effective (dequantized) weight as float32 [out_features, in_features], for analysis and for
  // methods that start from the current weights.
  virtual torch::Tensor weight() const = 0;
  virtual std::optional<torch::Tensor> bias() const = 0;
  // Bytes this layer occupies when stored (weights + scales + zero points + bias).
  virtual std::int64_t storage_bytes() const = 0;
  // Tensors to persist (names relative to the layer, e.g. "weight", "qweight", "scales") plus
  // JSON metadata (bits, group size, scheme). load_linear_kernel() inverts this.
  virtual void serialize(std::map<std::string, torch::Tensor>& tensors, nlohmann::json& meta) const = 0;
  virtual void to(const torch::Device& device) = 0;
  // True when a row's output depends on the other rows of the sequence it belongs to (dynamic int8
  // with one activation range per sequence). Callers that apply such a kernel to selected rows
  // (e.g. the LM head on scored positions only) must pass every row of each sequence instead,
  // with the sequences described by ScopedRowGroups (row_groups.hpp).
  virtual bool needs_whole_sequences() const { return false; }
  // True when the output is a discontinuous function of the input (dynamic activation
  // quantization: rounding to integers), so a 1-ulp difference upstream can move a result by a
  // whole quantization step. The model then computes everything before such layers exactly as
  // for each sequence alone (per-sequence attention), keeping results bitwise batch-invariant.
  virtual bool needs_bitwise_invariance() const { return needs_whole_sequences(); }
};

// Plain floating-point linear layer (weight [out, in] in the model dtype, optional bias).
class BIASLAB_API FloatLinear final : public LinearKernel {
 public:
  FloatLinear(torch::Tensor weight, std::optional<torch::Tensor> bias);
  torch::Tensor forward(const torch::Tensor& x) const override;
  std::int64_t in_features() const override;
  std::int64_t out_features() const override;
  std::string format() const override { return "float"; }
  torch::Tensor weight() const override;
  std::optional<torch::Tensor> bias() const override { return bias_; }
  std::int64_t storage_bytes() const override;
  void serialize(std::map<std::string, torch::Tensor>& tensors, nlohmann::json& meta) const override;
  void to(const torch::Device& device) override;
  // The stored weight itself (not a float32 copy); mutable access for in-place methods.
  torch::Tensor& raw_weight() { return weight_; }
  std::optional<torch::Tensor>& raw_bias() { return bias_; }

 private:
  torch::Tensor weight_;
  std::optional<torch::Tensor> bias_;
};

using LinearKernelLoader = std::function<std::shared_ptr<LinearKernel>(
    const std::map<std::string, torch::Tensor>& tensors, const nlohmann::json& meta)>;

// Kernel formats are registered once by the runtime (float and every in-tree compressed
// format), so any plugin can load a model another plugin compressed.
BIASLAB_API void register_linear_format(const std::string& format, LinearKernelLoader loader);
BIASLAB_API std::shared_ptr<LinearKernel> load_linear_kernel(
    const std::string& format, const std::map<std::string, torch::Tensor>& tensors,
    const nlohmann::json& meta);

using LinearObserver = std::function<void(const std::string& layer, const torch::Tensor& input)>;

// A named place in a model where a linear layer sits. Architectures call it like a function.
class BIASLAB_API Linear {
 public:
  Linear(std::string name, std::shared_ptr<LinearKernel> kernel);
  torch::Tensor operator()(const torch::Tensor& x) const;
  // HF-style parameter prefix, e.g. "gpt_neox.layers.3.mlp.dense_h_to_4h".
  const std::string& name() const { return name_; }
  const std::shared_ptr<LinearKernel>& kernel() const { return kernel_; }
  void set_kernel(std::shared_ptr<LinearKernel> kernel);
  // Called with every input before the kernel runs (calibration); empty to detach.
  void set_observer(LinearObserver observer) { observer_ = std::move(observer); }

 private:
  std::string name_;
  std::shared_ptr<LinearKernel> kernel_;
  LinearObserver observer_;
};

}  // namespace biaslab::runtime
