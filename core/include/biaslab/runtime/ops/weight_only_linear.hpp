#pragma once
// Weight-only quantized linear layer ("weight_only"): 2/3/4/8-bit integer codes with a float32
// scale (and, asymmetric, an integer zero point) per output row and group of input columns.
// Activations stay in floating point: forward() dequantizes w = scale * (code - zero) and runs a
// float GEMM.
//
// Speed/memory trade-off: by default forward() unpacks and dequantizes the weight on every call
// (resident memory = the packed codes; extra work = a few passes over out*in elements per call:
// at Pythia-70m MLP shapes and 128 tokens, one thread, ~1.15-1.45x the time of the float GEMM,
// more for fewer tokens). With cache_dequantized the float32 weight is built once and kept
// (4 bytes per weight more resident memory, 8x an int4 layer; forward is then exactly the fp32
// GEMM). bench/bench_linear measures both.
// storage_bytes() always reports the packed representation that serialize() writes.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "biaslab/export.hpp"
#include "biaslab/runtime/linear.hpp"
#include "biaslab/runtime/ops/weight_quantizer.hpp"

namespace biaslab::runtime::ops {

class BIASLAB_API WeightOnlyLinear final : public LinearKernel {
 public:
  struct Parts {
    torch::Tensor codes;                       // integer [out, in], values in [0, 2^bits - 1]
    torch::Tensor scales;                      // float32 [out, groups]
    std::optional<torch::Tensor> zeros;        // integer [out, groups]; required iff asymmetric
    std::optional<torch::Tensor> group_index;  // integer [in]: group of each input column;
                                               // default column / group_size (0 if group_size -1)
    std::optional<torch::Tensor> bias;         // [out], kept in its dtype
  };

  WeightOnlyLinear(const WeightQuantConfig& config, Parts parts, bool cache_dequantized = false);
  ~WeightOnlyLinear() override;

  torch::Tensor forward(const torch::Tensor& x) const override;
  std::int64_t in_features() const override { return in_features_; }
  std::int64_t out_features() const override { return out_features_; }
  std::string format() const override { return "weight_only"; }
  torch::Tensor weight() const override;  // dequantized, float32 [out, in]
  std::optional<torch::Tensor> bias() const override { return bias_; }
  std::int64_t storage_bytes() const override;
  void serialize(std::map<std::string, torch::Tensor>& tensors, nlohmann::json& meta) const override;
  void to(const torch::Device& device) override;

  const WeightQuantConfig& config() const { return config_; }
  std::int64_t groups() const { return scales_.size(1); }
  torch::Tensor codes() const;                       // uint8 [out, in]
  const torch::Tensor& scales() const { return scales_; }
  torch::Tensor zero_points() const;                 // float32 [out, groups] (implicit if symmetric)
  torch::Tensor group_index() const;                 // int64 [in]
  bool caches_dequantized() const { return cached_weight_.has_value(); }

  // Inverse of serialize(); registered as format "weight_only". meta may carry
  // "cache_dequantized": true to build the float cache on load.
  static std::shared_ptr<LinearKernel> load(const std::map<std::string, torch::Tensor>& tensors,
                                            const nlohmann::json& meta);

 private:
  torch::Tensor dequantize() const;

  WeightQuantConfig config_;
  std::int64_t out_features_ = 0;
  std::int64_t in_features_ = 0;
  torch::Tensor qweight_;                      // uint8 packed codes [out, packed_row_bytes(in)]
  torch::Tensor scales_;                       // float32 [out, groups]
  std::optional<torch::Tensor> qzeros_;        // uint8 [packed_row_bytes(out * groups)]: zero points
                                               // of all rows as one bit stream (row-major)
  std::optional<torch::Tensor> group_index_;   // int32 [in], only when not column / group_size
  torch::Tensor group_index_full_;             // int64 [in], used by dequantize()
  std::optional<torch::Tensor> bias_;
  std::optional<torch::Tensor> cached_weight_;  // float32 [out, in]
};

}  // namespace biaslab::runtime::ops
