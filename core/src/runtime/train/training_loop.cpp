#include "biaslab/runtime/train/training_loop.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>
#include <stdexcept>

#include "biaslab/runtime/safetensors.hpp"
#include "runtime/train/file_util.hpp"

namespace biaslab::runtime::train {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kStatePrefix = "state-";

// Running mean of the loss (and its parts) since some point, kept in the saved state so a
// resumed run reports the same curve.
struct Accumulator {
  double sum = 0;
  std::int64_t count = 0;
  std::map<std::string, double> parts;

  void add(double loss, const std::map<std::string, double>& p) {
    sum += loss;
    ++count;
    for (const auto& [k, v] : p) parts[k] += v;
  }
  std::optional<double> mean() const { return count ? std::optional<double>(sum / static_cast<double>(count)) : std::nullopt; }
  std::map<std::string, double> part_means() const {
    std::map<std::string, double> out;
    for (const auto& [k, v] : parts) out[k] = v / static_cast<double>(count);
    return out;
  }
  json to_json() const { return {{"sum", sum}, {"count", count}, {"parts", parts}}; }
  static Accumulator from_json(const json& j) {
    Accumulator a;
    a.sum = j.at("sum").get<double>();
    a.count = j.at("count").get<std::int64_t>();
    a.parts = j.at("parts").get<std::map<std::string, double>>();
    return a;
  }
};

json checkpoint_json(const CheckpointInfo& c) {
  json j = {{"step", c.step}, {"tokens_seen", c.tokens_seen}, {"validation", c.validation}};
  j["train_loss"] = c.train_loss ? json(*c.train_loss) : json(nullptr);
  return j;
}

CheckpointInfo checkpoint_from_json(const json& j, const fs::path& dir) {
  CheckpointInfo c;
  c.step = j.at("step").get<std::int64_t>();
  c.dir = dir;
  c.tokens_seen = j.at("tokens_seen").get<std::int64_t>();
  if (!j.at("train_loss").is_null()) c.train_loss = j.at("train_loss").get<double>();
  c.validation = j.at("validation").get<std::map<std::string, double>>();
  return c;
}

std::optional<std::int64_t> state_step(const fs::path& dir) {
  const auto name = dir.filename().string();
  if (name.rfind(kStatePrefix, 0) != 0) return std::nullopt;
  try {
    std::size_t used = 0;
    const auto digits = name.substr(std::char_traits<char>::length(kStatePrefix));
    const auto step = std::stoll(digits, &used);
    if (used != digits.size() || step < 0) return std::nullopt;
    return step;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// A snapshot of a directory's entries (safe to remove entries while walking it).
std::vector<fs::path> list_dir(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& entry : fs::directory_iterator(dir)) out.push_back(entry.path());
  std::sort(out.begin(), out.end());
  return out;
}

void set_learning_rate(torch::optim::AdamW& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
}

}  // namespace

torch::Tensor lm_cross_entropy(const torch::Tensor& logits, const torch::Tensor& labels) {
  return torch::nn::functional::cross_entropy(
      logits.reshape({-1, logits.size(-1)}), labels.reshape({-1}),
      torch::nn::functional::CrossEntropyFuncOptions().ignore_index(kIgnoreLabel));
}

Objective language_modeling_objective(const BatchSource* validation, std::int64_t batch_size,
                                      std::int64_t validation_batches, std::int64_t seq_len) {
  Objective o;
  o.tokens_per_batch = batch_size * seq_len;
  o.loss = [](TrainableLM& model, const Batch& batch) {
    auto out = model.forward(batch.input_ids);
    return LossParts{lm_cross_entropy(out.logits, batch.labels), {}};
  };
  o.evaluate = [validation, batch_size, validation_batches](TrainableLM& model) {
    std::map<std::string, double> metrics;
    if (!validation || validation_batches <= 0) return metrics;
    torch::NoGradGuard no_grad;
    double nll = 0;
    std::int64_t n = 0;
    for (std::int64_t i = 0; i < validation_batches; ++i) {
      auto batch = validation->evaluation_batch(i, batch_size);
      if (!batch) break;
      auto logits = model.forward(batch->input_ids).logits;
      auto loss = torch::nn::functional::cross_entropy(
          logits.reshape({-1, logits.size(-1)}), batch->labels.reshape({-1}),
          torch::nn::functional::CrossEntropyFuncOptions().ignore_index(kIgnoreLabel).reduction(torch::kSum));
      nll += loss.item<double>();
      n += batch->labels.ne(kIgnoreLabel).sum().item<std::int64_t>();
    }
    if (n > 0) metrics["loss"] = nll / static_cast<double>(n);
    return metrics;
  };
  return o;
}

LoopResult run_training_loop(TrainableLM& model, const BatchSource& train_data, const Objective& objective,
                             const LoopOptions& options, const fs::path& work_dir, const std::string& fingerprint,
                             const LoopHooks& hooks) {
  const auto& opt = options.optimizer;
  if (opt.max_steps < 0) throw std::invalid_argument("max_steps must not be negative");
  if (opt.batch_size < 1) throw std::invalid_argument("batch_size must be positive");
  auto log = [&](const std::string& m) {
    if (hooks.log) hooks.log(m);
  };
  fs::create_directories(work_dir / "checkpoints");

  // Decay matrices and embeddings; never biases or LayerNorm gains (GPT-NeoX/HF practice).
  std::vector<torch::Tensor> decay, no_decay;
  for (const auto& item : model.named_parameters(true)) {
    (item.value().dim() >= 2 ? decay : no_decay).push_back(item.value());
  }
  auto adam = [&](double wd) {
    return std::make_unique<torch::optim::AdamWOptions>(
        torch::optim::AdamWOptions(opt.lr).betas({opt.beta1, opt.beta2}).eps(opt.eps).weight_decay(wd));
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, adam(opt.weight_decay));
  groups.emplace_back(no_decay, adam(0.0));
  torch::optim::AdamW optimizer(groups, torch::optim::AdamWOptions(opt.lr));

  LearningRateSchedule lr_schedule{opt.lr, opt.warmup_steps, opt.max_steps, opt.min_lr_ratio};
  const auto schedule = options.checkpoints.steps(opt.max_steps);
  const std::set<std::int64_t> checkpoint_steps(schedule.begin(), schedule.end());

  LoopResult result;
  Accumulator since_point, since_checkpoint;
  std::int64_t step = 0;

  // --- resume from the newest complete state --------------------------------------------------
  std::optional<fs::path> resume_dir;
  for (const auto& entry : fs::directory_iterator(work_dir)) {
    const auto s = state_step(entry.path());
    if (!s || !fs::is_regular_file(entry.path() / "state.json")) continue;
    if (!resume_dir || *s > *state_step(*resume_dir)) resume_dir = entry.path();
  }
  if (resume_dir) {
    const auto state = read_json_file(*resume_dir / "state.json");
    if (state.value("fingerprint", std::string()) != fingerprint) {
      log("discarding saved training state in " + work_dir.string() + " (made with other settings)");
      for (const auto& entry : list_dir(work_dir)) {
        if (state_step(entry)) fs::remove_all(entry);
      }
      fs::remove_all(work_dir / "checkpoints");
      fs::create_directories(work_dir / "checkpoints");
    } else {
      SafetensorsFile weights(*resume_dir / "model.safetensors");
      std::map<std::string, torch::Tensor> tensors;
      for (const auto& name : weights.names()) tensors.emplace(name, weights.load(name));
      model.load_hf_state_dict(tensors, weights.path().string());
      torch::load(optimizer, (*resume_dir / "optimizer.pt").string());
      step = state.at("step").get<std::int64_t>();
      for (const auto& p : state.at("curve")) {
        result.curve.push_back({p.at("step").get<std::int64_t>(), p.at("train_loss").get<double>(),
                                p.at("parts").get<std::map<std::string, double>>()});
      }
      for (const auto& c : state.at("checkpoints")) {
        const auto s = c.at("step").get<std::int64_t>();
        result.checkpoints.push_back(checkpoint_from_json(c, work_dir / "checkpoints" / checkpoint_name(s)));
      }
      since_point = Accumulator::from_json(state.at("since_point"));
      since_checkpoint = Accumulator::from_json(state.at("since_checkpoint"));
      log("resuming training at step " + std::to_string(step) + " of " + std::to_string(opt.max_steps));
    }
  }
  // Checkpoints written after the state we resume from are written again.
  for (const auto& entry : list_dir(work_dir / "checkpoints")) {
    const auto name = entry.filename().string();
    bool known = std::any_of(result.checkpoints.begin(), result.checkpoints.end(),
                             [&](const CheckpointInfo& c) { return checkpoint_name(c.step) == name; });
    if (!known) fs::remove_all(entry);
  }

  auto save_state = [&] {
    const auto dir = work_dir / (kStatePrefix + std::to_string(step));
    fs::remove_all(dir);
    fs::create_directories(dir);
    std::map<std::string, torch::Tensor> tensors;
    for (const auto& [name, t] : model.hf_state_dict()) tensors.emplace(name, t.detach().contiguous());
    write_safetensors(dir / "model.safetensors", tensors);
    torch::save(optimizer, (dir / "optimizer.pt").string());
    json curve = json::array();
    for (const auto& p : result.curve) curve.push_back({{"step", p.step}, {"train_loss", p.train_loss}, {"parts", p.parts}});
    json checkpoints = json::array();
    for (const auto& c : result.checkpoints) checkpoints.push_back(checkpoint_json(c));
    const json state = {{"fingerprint", fingerprint},   {"step", step},
                        {"curve", curve},               {"checkpoints", checkpoints},
                        {"since_point", since_point.to_json()}, {"since_checkpoint", since_checkpoint.to_json()}};
    write_text_file(dir / "state.json", state.dump(1) + "\n");  // last: marks the state complete
    for (const auto& entry : list_dir(work_dir)) {
      const auto s = state_step(entry);
      if (s && *s != step) fs::remove_all(entry);
    }
  };

  auto write_checkpoint = [&] {
    torch::NoGradGuard no_grad;
    CheckpointInfo info;
    info.step = step;
    info.tokens_seen = step * objective.tokens_per_batch;
    info.train_loss = since_checkpoint.mean();
    if (objective.evaluate) info.validation = objective.evaluate(model);
    const auto final_dir = work_dir / "checkpoints" / checkpoint_name(step);
    const auto tmp = work_dir / "checkpoints" / ("." + checkpoint_name(step) + ".tmp");
    fs::remove_all(tmp);
    model.save_pretrained(tmp);
    if (hooks.decorate_checkpoint) hooks.decorate_checkpoint(tmp);
    json meta = checkpoint_json(info);
    meta["type"] = "model";
    meta["fraction"] = opt.max_steps > 0 ? static_cast<double>(step) / static_cast<double>(opt.max_steps) : 1.0;
    meta["architecture"] = model.architecture();
    meta["parameters"] = model.parameter_count();
    write_text_file(tmp / "artifact.json", meta.dump(2) + "\n");
    fs::remove_all(final_dir);
    fs::rename(tmp, final_dir);
    info.dir = final_dir;
    result.checkpoints.push_back(info);
    since_checkpoint = {};
    std::string v;
    for (const auto& [k, x] : info.validation) v += ", validation " + k + " " + std::to_string(x);
    log("checkpoint " + checkpoint_name(step) + (info.train_loss ? ", train loss " + std::to_string(*info.train_loss) : "") + v);
  };

  if (step == 0 && checkpoint_steps.count(0) && result.checkpoints.empty()) {
    write_checkpoint();
    save_state();
  }

  model.train();
  while (step < opt.max_steps) {
    if (options.stop_after_steps && step >= *options.stop_after_steps) break;
    if (hooks.cancelled && hooks.cancelled()) break;
    const auto t0 = std::chrono::steady_clock::now();
    set_learning_rate(optimizer, lr_schedule.at(step));
    const auto batch = train_data.training_batch(step, opt.batch_size);
    auto loss = objective.loss(model, batch);
    optimizer.zero_grad();
    loss.total.backward();
    if (opt.grad_clip > 0) torch::nn::utils::clip_grad_norm_(model.parameters(true), opt.grad_clip);
    optimizer.step();
    ++step;
    result.train_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    result.train_tokens += objective.tokens_per_batch;

    const double value = loss.total.item<double>();
    if (!std::isfinite(value)) {
      throw std::runtime_error("training diverged: loss is " + std::to_string(value) + " at step " +
                               std::to_string(step) + " (lower the learning rate)");
    }
    since_point.add(value, loss.parts);
    since_checkpoint.add(value, loss.parts);
    if ((options.log_every > 0 && step % options.log_every == 0) || checkpoint_steps.count(step)) {
      result.curve.push_back({step, *since_point.mean(), since_point.part_means()});
      since_point = {};
    }
    if (checkpoint_steps.count(step)) {
      write_checkpoint();
      save_state();
    } else if (options.save_state_every > 0 && step % options.save_state_every == 0) {
      save_state();
    }
    if (hooks.progress) {
      hooks.progress(static_cast<double>(step) / static_cast<double>(std::max<std::int64_t>(1, opt.max_steps)),
                     "step " + std::to_string(step));
    }
  }
  result.steps_done = step;
  result.completed = step >= opt.max_steps;
  if (!result.completed && !checkpoint_steps.count(step)) save_state();
  return result;
}

}  // namespace biaslab::runtime::train
