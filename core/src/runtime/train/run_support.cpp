#include "runtime/train/run_support.hpp"

#include <cstdio>

namespace biaslab::runtime::train {

namespace fs = std::filesystem;

nlohmann::json loop_options_json(const LoopOptions& o) {
  const auto& p = o.optimizer;
  return {{"max_steps", p.max_steps},
          {"batch_size", p.batch_size},
          {"lr", p.lr},
          {"min_lr_ratio", p.min_lr_ratio},
          {"warmup_steps", p.warmup_steps},
          {"weight_decay", p.weight_decay},
          {"beta1", p.beta1},
          {"beta2", p.beta2},
          {"eps", p.eps},
          {"grad_clip", p.grad_clip},
          {"checkpoints",
           {{"log_spaced", o.checkpoints.log_spaced},
            {"every", o.checkpoints.every},
            {"extra_steps", o.checkpoints.extra_steps},
            {"fractions", o.checkpoints.fractions}}},
          {"seed", o.seed},
          {"log_every", o.log_every},
          {"validation_batches", o.validation_batches}};
}

std::string stream_digest(const std::vector<std::int32_t>& stream) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const auto token : stream) {
    auto v = static_cast<std::uint32_t>(token);
    for (int i = 0; i < 4; ++i) {
      h ^= (v >> (8 * i)) & 0xFFu;
      h *= 0x100000001b3ULL;
    }
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return std::string(buf) + ":" + std::to_string(stream.size());
}

void link_or_copy(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::remove(to, ec);
  fs::create_hard_link(fs::canonical(from), to, ec);
  if (ec) fs::copy_file(from, to, fs::copy_options::overwrite_existing);
}

void link_tree(const fs::path& from, const fs::path& to) {
  fs::create_directories(to);
  for (const auto& entry : fs::directory_iterator(from)) {
    const auto target = to / entry.path().filename();
    if (entry.is_directory()) {
      link_tree(entry.path(), target);
    } else if (entry.is_regular_file()) {
      link_or_copy(entry.path(), target);
    }
  }
}

}  // namespace biaslab::runtime::train
