#pragma once
// Statistics of each linear layer's inputs gathered during calibration forward passes, for the
// calibration-based methods: per-column absolute maxima (SmoothQuant), per-column squared norms
// (Wanda) and X^T X (GPTQ / SparseGPT Hessian). Attach the recorder to Linear slots, run the
// calibration data through the model, then read the statistics by slot name.
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "biaslab/export.hpp"
#include "biaslab/runtime/linear.hpp"

namespace biaslab::runtime::compress {

struct CalibrationOptions {
  bool abs_max = true;   // SmoothQuant
  bool sq_norm = true;   // Wanda
  bool hessian = false;  // GPTQ, SparseGPT: in_features^2 floats per layer
};

struct BIASLAB_API LayerCalibration {
  std::int64_t in_features = 0;
  std::int64_t rows = 0;   // input vectors (tokens) seen
  torch::Tensor abs_max;   // float32 [in]: max over tokens of |x_j|
  torch::Tensor sq_norm;   // float64 [in]: sum over tokens of x_j^2
  torch::Tensor xtx;       // float32 [in, in]: sum over tokens of x x^T
  // GPTQ's H = 2 X X^T / n (float32 [in, in]); n counts tokens here (the reference counts
  // sequences; GPTQ and SparseGPT results do not depend on this positive factor).
  torch::Tensor hessian() const;
  // ||X_j||_2 over all tokens, float32 [in] (Wanda's activation norm).
  torch::Tensor column_norms() const;
};

class BIASLAB_API CalibrationRecorder {
 public:
  explicit CalibrationRecorder(CalibrationOptions options = {});
  // Accumulates one input [..., in_features] of layer `layer`. Thread-safe.
  void observe(const std::string& layer, const torch::Tensor& input);
  // Observer forwarding to observe(); the recorder must outlive every slot it is attached to.
  LinearObserver observer();
  void attach(Linear& slot);
  static void detach(Linear& slot);

  bool contains(const std::string& layer) const;
  // Throws std::out_of_range naming the layer when it was never observed.
  const LayerCalibration& at(const std::string& layer) const;
  std::vector<std::string> layers() const;
  void erase(const std::string& layer);
  void clear();

 private:
  CalibrationOptions options_;
  mutable std::mutex mutex_;
  std::map<std::string, LayerCalibration> stats_;
};

}  // namespace biaslab::runtime::compress
