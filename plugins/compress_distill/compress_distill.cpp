// compress.distill: knowledge distillation (DistilBERT recipe) of a teacher model into a smaller
// student: temperature-scaled KL to the teacher + LM cross-entropy + cosine loss on the last
// hidden states. Causal teachers get a GPT-NeoX student, masked ones a BERT/RoBERTa student.
#include <spdlog/spdlog.h>

#include "biaslab/plugin.hpp"
#include "biaslab/runtime/model.hpp"
#include "biaslab/runtime/train/distill.hpp"
#include "biaslab/runtime/train/plugin_params.hpp"

namespace {

namespace train = biaslab::runtime::train;
using nlohmann::json;

class Distill final : public biaslab::Operator {
 public:
  void run(biaslab::NodeContext& ctx) override {
    const auto& p = ctx.params();
    const auto teachers = ctx.inputs("teacher");
    if (teachers.size() != 1) throw std::runtime_error("compress.distill needs exactly one teacher");
    const auto corpora = ctx.inputs("corpus");
    std::optional<train::CorpusReader> corpus;
    if (!corpora.empty()) corpus.emplace(corpora[0].path);

    const int threads = p["threads"].get<int>() > 0 ? p["threads"].get<int>() : std::max(1, ctx.threads());
    torch::set_num_threads(threads);
    if (ctx.device() != "cpu") ctx.log().warn("compress.distill trains on the CPU (device '{}' ignored)", ctx.device());
    biaslab::runtime::LoadOptions load;
    load.dtype = torch::kFloat32;
    const auto teacher = biaslab::runtime::load_model(teachers[0], load);

    train::DistillConfig config;
    config.student_init = p["student_init"].get<std::string>();
    config.teacher_layers = p["teacher_layers"].get<std::vector<std::int64_t>>();
    config.num_layers = p["num_layers"].get<std::int64_t>();
    config.hidden_size = p["hidden_size"].get<std::int64_t>();
    config.num_heads = p["num_heads"].get<std::int64_t>();
    config.intermediate_size = p["intermediate_size"].get<std::int64_t>();
    config.alpha_kl = p["alpha"].get<double>();
    config.beta_lm = p["beta"].get<double>();
    config.gamma_cos = p["gamma"].get<double>();
    config.temperature = p["temperature"].get<double>();
    config.seq_len = p["seq_len"].get<std::int64_t>();
    config.mlm_probability = p["mlm_probability"].get<double>();
    config.teacher_samples = p["teacher_samples"].get<std::int64_t>();
    config.loop = train::loop_options_from_params(p, ctx.seed());

    train::LoopHooks hooks;
    hooks.progress = [&](double f, const std::string& what) { ctx.progress(f, what); };
    hooks.cancelled = [&] { return ctx.cancelled(); };
    hooks.log = [&](const std::string& m) { ctx.log().info("{}", m); };
    const auto run = train::distill(*teacher, config, corpus ? &*corpus : nullptr, ctx.scratch_dir() / "distill", hooks);
    if (!run.loop.completed) throw std::runtime_error("interrupted at step " + std::to_string(run.loop.steps_done));
    const double tps = run.loop.tokens_per_second();
    train::publish_distill_run(run, ctx.output_dir(),
                               {{"teacher", teachers[0].producer},
                                {"corpus", corpora.empty() ? json(nullptr) : json(corpora[0].producer)},
                                {"seed", ctx.seed()},
                                {"threads", threads},
                                {"tokens_per_second", tps}});

    const auto& name = ctx.node_name();
    ctx.emit({.model = name, .metric = "distill.teacher_parameters", .value = static_cast<double>(run.teacher_parameters)});
    ctx.emit({.model = name, .metric = "distill.student_parameters", .value = static_cast<double>(run.student_parameters)});
    ctx.emit({.model = name, .metric = "model.parameters", .value = static_cast<double>(run.student_parameters)});
    for (const auto& point : run.loop.curve) {
      const auto category = train::checkpoint_name(point.step);
      ctx.emit({.model = name, .metric = "train.loss", .category = category, .value = point.train_loss});
      for (const auto& [part, value] : point.parts) {
        ctx.emit({.model = name, .metric = "train.loss_" + part, .category = category, .value = value});
      }
    }
    for (const auto& c : run.loop.checkpoints) {
      for (const auto& [metric, value] : c.validation) {
        ctx.emit({.model = name, .metric = "validation." + metric, .category = train::checkpoint_name(c.step), .value = value});
      }
    }
    if (run.loop.train_tokens > 0) {
      ctx.emit({.model = name, .metric = "train.tokens_per_second", .value = tps, .extra = {{"threads", threads}}});
    }
  }
};

const biaslab::InputPort kInputs[] = {
    {"teacher", "model", 1, 1, "the model to distill"},
    {"corpus", "corpus", 0, 1, "text to distill on; without it a causal teacher's own samples are used"}};

const biaslab::PluginDescriptor kPlugin = {
    .abi_version = biaslab::kPluginAbiVersion,
    .name = "compress.distill",
    .version = "1.0.0",
    .kind = biaslab::PluginKind::transform,
    .summary = "knowledge distillation (DistilBERT recipe) into a smaller GPT-NeoX or BERT student",
    .params_schema = R"schema({
      "$schema": "http://json-schema.org/draft-07/schema#",
      "type": "object", "additionalProperties": false,
      "properties": {
        "student_init": {"type": "string", "enum": ["teacher_layers", "random"], "default": "teacher_layers",
          "description": "teacher_layers: copy embeddings, head and the teacher_layers (GPT-NeoX, BERT, RoBERTa teachers); random: a fresh student of the sizes below"},
        "teacher_layers": {"type": "array", "items": {"type": "integer", "minimum": 0}, "default": [],
          "description": "teacher layers the student starts from, in order (DistilBERT: [0, 2, 4, 7, 9, 11]); empty: half the layers, evenly spread"},
        "num_layers": {"type": "integer", "minimum": 0, "default": 0, "description": "random student: layers; 0: half the teacher's"},
        "hidden_size": {"type": "integer", "minimum": 0, "default": 0, "description": "random student: width; 0: the teacher's"},
        "num_heads": {"type": "integer", "minimum": 0, "default": 0, "description": "random student: heads; 0: the teacher's"},
        "intermediate_size": {"type": "integer", "minimum": 0, "default": 0, "description": "random student: MLP width; 0: 4 x hidden_size"},
        "alpha": {"type": "number", "minimum": 0, "default": 5.0, "description": "weight of T^2 * KL(teacher || student) at temperature T (DistilBERT: 5)"},
        "beta": {"type": "number", "minimum": 0, "default": 2.0, "description": "weight of the MLM / causal LM cross-entropy (DistilBERT: 2)"},
        "gamma": {"type": "number", "minimum": 0, "default": 1.0,
          "description": "weight of the cosine loss between last hidden states (DistilBERT: 1; needs equal hidden sizes)"},
        "temperature": {"type": "number", "exclusiveMinimum": 0, "default": 2.0, "description": "softmax temperature T (DistilBERT: 2)"},
        "seq_len": {"type": "integer", "minimum": 3, "default": 64, "description": "tokens per training sequence"},
        "batch_size": {"type": "integer", "minimum": 1, "default": 16, "description": "sequences per optimizer step"},
        "max_steps": {"type": "integer", "minimum": 0, "default": 200, "description": "optimizer steps"},
        "lr": {"type": "number", "exclusiveMinimum": 0, "default": 0.0005, "description": "peak learning rate (AdamW)"},
        "min_lr_ratio": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.1, "description": "cosine decay ends at min_lr_ratio x lr"},
        "warmup_fraction": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.05, "description": "linear warm-up share of max_steps"},
        "weight_decay": {"type": "number", "minimum": 0, "default": 0.01, "description": "AdamW decoupled weight decay (matrices and embeddings)"},
        "beta1": {"type": "number", "minimum": 0, "exclusiveMaximum": 1, "default": 0.9, "description": "AdamW beta1"},
        "beta2": {"type": "number", "minimum": 0, "exclusiveMaximum": 1, "default": 0.98, "description": "AdamW beta2 (DistilBERT: 0.98)"},
        "eps": {"type": "number", "exclusiveMinimum": 0, "default": 1e-6, "description": "AdamW epsilon (DistilBERT: 1e-6)"},
        "grad_clip": {"type": "number", "minimum": 0, "default": 5.0, "description": "global gradient-norm clip (DistilBERT: 5); 0: none"},
        "mlm_probability": {"type": "number", "exclusiveMinimum": 0, "maximum": 1, "default": 0.15,
          "description": "masked teachers: share of tokens chosen for the MLM loss"},
        "teacher_samples": {"type": "integer", "minimum": 1, "default": 512,
          "description": "without a corpus (causal teachers): sequences sampled from the teacher to train on"},
        "save_state_every": {"type": "integer", "minimum": 0, "default": 100, "description": "save resumable state every this many steps"},
        "log_every": {"type": "integer", "minimum": 0, "default": 50, "description": "loss-curve interval in steps"},
        "validation_batches": {"type": "integer", "minimum": 0, "default": 8,
          "description": "validation batches for the KL-to-teacher and loss before and after distillation"},
        "threads": {"type": "integer", "minimum": 0, "default": 0, "description": "intra-op threads; 0: the node's thread budget"}
      }
    })schema",
    .inputs = kInputs,
    .num_inputs = 2,
    .output_type = "model",
    .create = [] { return std::unique_ptr<biaslab::Operator>(new Distill); }};

}  // namespace

BIASLAB_PLUGIN(kPlugin)
