#pragma once
// Int8 linear layer with PyTorch's dynamic-quantization semantics
// (torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)):
//  * weights quantized once to qint8, symmetric (zero point 0), scale = max|w| / 127.5 floored
//    at float32 eps -- MinMaxObserver(per_tensor_symmetric) of default_dynamic_qconfig, or
//    PerChannelMinMaxObserver(per_channel_symmetric, axis 0) of per_channel_dynamic_qconfig;
//  * activations quantized to quint8 from their runtime min/max -- over which rows is the
//    ActivationRange below;
//  * int32 accumulation and fp32 bias inside quantized::linear_dynamic (oneDNN or QNNPACK).
// torch.ao.nn.quantized.dynamic.Linear (version 4) passes reduce_range=True: oneDNN then uses a
// 7-bit activation range [0, 127]; QNNPACK ignores the flag and uses [0, 255].
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "biaslab/export.hpp"
#include "biaslab/runtime/linear.hpp"

namespace biaslab::runtime::ops {

enum class Int8WeightScheme { per_tensor, per_channel };

// Over which rows one activation range (scale, zero point) is taken:
//  * per_sequence: the real tokens of each sequence (RowGroups of the running forward pass), in
//    every layer including the LM head over all of the sequence's positions -- exactly what
//    quantize_dynamic computes when each sentence is its own forward pass (bias-bench, the seed
//    study), while still batching. Outside a forward pass the whole input is one sequence.
//  * per_token: every row its own range. Batch-invariant by construction; computed in exact
//    integer arithmetic (int8 x uint8 products summed in float32 chunks that stay below 2^24,
//    then in float64), so results do not depend on batch size or thread count at all. Not a
//    torch kernel: about the speed of a float32 GEMM.
//  * per_batch: one range over the whole call (the padded batch, or whichever rows reach the
//    head) -- quantized::linear_dynamic as is. Results depend on batch composition; kept for
//    comparison with earlier biaslab versions.
enum class ActivationRange { per_sequence, per_token, per_batch };

BIASLAB_API std::string to_string(Int8WeightScheme scheme);
// "per_tensor" | "per_channel"; throws on anything else.
BIASLAB_API Int8WeightScheme int8_weight_scheme_from_string(const std::string& text);
BIASLAB_API std::string to_string(ActivationRange range);
// "per_sequence" | "per_token" | "per_batch"; throws on anything else.
BIASLAB_API ActivationRange activation_range_from_string(const std::string& text);

// Activation quantization parameters of each row of x [rows, in] (float32), exactly as
// torch's ChooseQuantizationParams picks them for one tensor (quint8, [0, 255] or [0, 127] with
// reduce_range): {scales float32 [rows], zero points int64 [rows]}.
BIASLAB_API std::pair<torch::Tensor, torch::Tensor> per_row_activation_qparams(const torch::Tensor& x,
                                                                               bool reduce_range);

struct BIASLAB_API DynamicInt8Options {
  Int8WeightScheme scheme = Int8WeightScheme::per_tensor;
  // Quantized engine whose kernels run the layer: "onednn" or "qnnpack" (this libtorch has no
  // fbgemm). The engine is fixed when the weight is prepacked.
  std::string engine = "onednn";
  // What torch's dynamic Linear module passes to quantized::linear_dynamic.
  bool reduce_range = true;
  ActivationRange activation_range = ActivationRange::per_sequence;

  // Keys "scheme", "engine", "reduce_range", "activation_range"; "bits", if present, must be 8
  // (this kernel is int8 only: 2/3/4-bit weights are the weight_only format). Unknown keys are
  // rejected.
  static DynamicInt8Options from_json(const nlohmann::json& json);
};

// Engines this libtorch was built with ("onednn", "qnnpack", ...).
BIASLAB_API std::vector<std::string> available_quantized_engines();
// Throws std::invalid_argument naming the engine and the available ones.
BIASLAB_API void require_quantized_engine(const std::string& engine);

class BIASLAB_API DynamicInt8Linear final : public LinearKernel {
 public:
  // Quantizes a float weight [out, in] exactly as quantize_dynamic's weight observer does.
  static std::shared_ptr<DynamicInt8Linear> quantize(const torch::Tensor& weight,
                                                     std::optional<torch::Tensor> bias,
                                                     const DynamicInt8Options& options = {});
  // From stored parts: int8 weight [out, in], float32 scales ([1] or [out]), int32 zero points
  // of the same shape, optional bias. Used by load(); re-prepacks for the engine.
  DynamicInt8Linear(torch::Tensor int_weight, torch::Tensor scales, torch::Tensor zero_points,
                    std::optional<torch::Tensor> bias, const DynamicInt8Options& options);
  ~DynamicInt8Linear() override;

  torch::Tensor forward(const torch::Tensor& x) const override;
  std::int64_t in_features() const override;
  std::int64_t out_features() const override;
  std::string format() const override { return "dynamic_int8"; }
  torch::Tensor weight() const override;  // int8 * scale, float32
  std::optional<torch::Tensor> bias() const override { return bias_; }
  std::int64_t storage_bytes() const override;
  void serialize(std::map<std::string, torch::Tensor>& tensors, nlohmann::json& meta) const override;
  // Only CPU: quantized::linear_dynamic has no other backend in this libtorch.
  void to(const torch::Device& device) override;
  bool needs_whole_sequences() const override {
    return options_.activation_range == ActivationRange::per_sequence;
  }
  bool needs_bitwise_invariance() const override {
    return options_.activation_range != ActivationRange::per_batch;
  }

  const torch::Tensor& int_weight() const { return int_weight_; }
  const torch::Tensor& scales() const { return scales_; }
  const torch::Tensor& zero_points() const { return zero_points_; }
  const DynamicInt8Options& options() const { return options_; }

  // Inverse of serialize(); registered as format "dynamic_int8". Layers saved before activation
  // ranges were selectable (no "activation_range" key) load as per_batch, how they were computed.
  static std::shared_ptr<LinearKernel> load(const std::map<std::string, torch::Tensor>& tensors,
                                            const nlohmann::json& meta);

 private:
  // quantized::linear_dynamic on a [rows, in] float32 input: one range over all of it.
  torch::Tensor kernel_forward(const torch::Tensor& x2d) const;
  torch::Tensor per_sequence_forward(const torch::Tensor& x2d) const;
  torch::Tensor per_token_forward(const torch::Tensor& x2d) const;
  // The int8 weight as float32 integers, made on first per_token use (4 bytes per weight).
  const torch::Tensor& float_weight() const;

  torch::Tensor int_weight_;   // int8 [out, in]
  torch::Tensor scales_;       // float32 [1] or [out]
  torch::Tensor zero_points_;  // int32, same shape as scales_
  std::optional<torch::Tensor> bias_;  // float32 [out]
  DynamicInt8Options options_;
  c10::IValue packed_;  // LinearPackedParamsBase of options_.engine
  mutable std::once_flag float_weight_once_;
  mutable torch::Tensor float_weight_;
};

}  // namespace biaslab::runtime::ops
