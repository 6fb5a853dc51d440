#include "biaslab/runtime/train/plugin_params.hpp"

#include <cmath>
#include <stdexcept>

namespace biaslab::runtime::train {

LoopOptions loop_options_from_params(const nlohmann::json& p, std::uint64_t seed) {
  LoopOptions o;
  auto& opt = o.optimizer;
  opt.max_steps = p.at("max_steps").get<std::int64_t>();
  opt.batch_size = p.at("batch_size").get<std::int64_t>();
  opt.lr = p.at("lr").get<double>();
  opt.min_lr_ratio = p.at("min_lr_ratio").get<double>();
  opt.warmup_steps = static_cast<std::int64_t>(std::llround(p.at("warmup_fraction").get<double>() *
                                                            static_cast<double>(opt.max_steps)));
  opt.weight_decay = p.at("weight_decay").get<double>();
  opt.beta1 = p.at("beta1").get<double>();
  opt.beta2 = p.at("beta2").get<double>();
  opt.eps = p.at("eps").get<double>();
  opt.grad_clip = p.at("grad_clip").get<double>();
  o.seed = seed;
  o.save_state_every = p.at("save_state_every").get<std::int64_t>();
  o.log_every = p.at("log_every").get<std::int64_t>();
  o.validation_batches = p.at("validation_batches").get<std::int64_t>();
  if (p.contains("checkpoint_schedule")) {
    const auto schedule = p.at("checkpoint_schedule").get<std::string>();
    if (schedule == "pythia") {
      o.checkpoints.log_spaced = true;
      o.checkpoints.every = p.at("checkpoint_every").get<std::int64_t>();
    } else if (schedule == "final") {
      o.checkpoints.log_spaced = false;
      o.checkpoints.every = 0;
    } else {
      throw std::invalid_argument("checkpoint_schedule '" + schedule + "' is not pythia or final");
    }
    o.checkpoints.extra_steps = p.at("checkpoint_steps").get<std::vector<std::int64_t>>();
    o.checkpoints.fractions = p.at("checkpoint_fractions").get<std::vector<double>>();
  } else {
    o.checkpoints.log_spaced = false;
    o.checkpoints.every = 0;
  }
  return o;
}

}  // namespace biaslab::runtime::train
