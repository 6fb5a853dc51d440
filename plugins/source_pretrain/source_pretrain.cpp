// source.pretrain: pretrains a GPT-NeoX causal LM or a BERT masked LM on a corpus, saving HF
// model directories on Pythia's checkpoint schedule. The artifact is a collection: one member per
// checkpoint ("pretrain:step512", "pretrain:frac0.5", "pretrain:final"), and the directory itself
// is the final model. Resumes from its scratch state when a run was interrupted.
#include <spdlog/spdlog.h>

#include "biaslab/data/data_manager.hpp"
#include "biaslab/plugin.hpp"
#include "biaslab/runtime/train/plugin_params.hpp"
#include "biaslab/runtime/train/pretrain.hpp"

namespace {

namespace fs = std::filesystem;
namespace train = biaslab::runtime::train;
using nlohmann::json;

// "byte" / "bpe" pass through; a data-set name of the data manager ("tokenizers/gpt-neox-20b")
// becomes its verified folder; anything else is a path.
std::string resolve_tokenizer(const std::string& value) {
  if (value == "byte" || value == "bpe") return value;
  biaslab::data::DataManager manager;
  if (manager.registry().find(value)) return manager.resolve(value).string();
  if (!fs::exists(value)) {
    throw std::runtime_error("source.pretrain: tokenizer '" + value +
                             "' is neither byte, bpe, a data set (e.g. tokenizers/gpt-neox-20b) nor an existing path");
  }
  return value;
}

class Pretrain final : public biaslab::Operator {
 public:
  void run(biaslab::NodeContext& ctx) override {
    const auto& p = ctx.params();
    const auto corpora = ctx.inputs("corpus");
    if (corpora.size() != 1) throw std::runtime_error("source.pretrain needs exactly one corpus input");
    const train::CorpusReader corpus(corpora[0].path);

    train::PretrainConfig config;
    config.architecture = p["architecture"].get<std::string>();
    config.num_layers = p["num_layers"].get<std::int64_t>();
    config.hidden_size = p["hidden_size"].get<std::int64_t>();
    config.num_heads = p["num_heads"].get<std::int64_t>();
    config.intermediate_size = p["intermediate_size"].get<std::int64_t>();
    config.rotary_pct = p["rotary_pct"].get<double>();
    config.max_position_embeddings = p["max_position_embeddings"].get<std::int64_t>();
    config.seq_len = p["seq_len"].get<std::int64_t>();
    config.tokenizer = resolve_tokenizer(p["tokenizer"].get<std::string>());
    config.bpe_vocab_size = p["bpe_vocab_size"].get<std::size_t>();
    config.mlm_probability = p["mlm_probability"].get<double>();
    config.loop = train::loop_options_from_params(p, ctx.seed());

    const int threads = p["threads"].get<int>() > 0 ? p["threads"].get<int>() : std::max(1, ctx.threads());
    torch::set_num_threads(threads);
    if (ctx.device() != "cpu") ctx.log().warn("source.pretrain trains on the CPU (device '{}' ignored)", ctx.device());

    train::LoopHooks hooks;
    hooks.progress = [&](double f, const std::string& what) { ctx.progress(f, what); };
    hooks.cancelled = [&] { return ctx.cancelled(); };
    hooks.log = [&](const std::string& m) { ctx.log().info("{}", m); };
    const auto run = train::pretrain(config, corpus, ctx.scratch_dir() / "pretrain", hooks);
    if (!run.loop.completed) throw std::runtime_error("interrupted at step " + std::to_string(run.loop.steps_done));

    const double tps = run.loop.tokens_per_second();
    train::publish_training_run(run, config.loop, ctx.output_dir(),
                                {{"corpus", corpora[0].producer},
                                 {"tokenizer", p["tokenizer"]},
                                 {"seed", ctx.seed()},
                                 {"threads", threads},
                                 {"tokens_per_second", tps}});

    const auto& name = ctx.node_name();
    for (const auto& point : run.loop.curve) {
      ctx.emit({.model = name, .metric = "train.loss", .category = train::checkpoint_name(point.step), .value = point.train_loss});
    }
    for (const auto& c : run.loop.checkpoints) {
      for (const auto& [metric, value] : c.validation) {
        ctx.emit({.model = name, .metric = "validation." + metric, .category = train::checkpoint_name(c.step), .value = value});
      }
    }
    ctx.emit({.model = name, .metric = "model.parameters", .value = static_cast<double>(run.parameters)});
    ctx.emit({.model = name, .metric = "model.non_embedding_parameters", .value = static_cast<double>(run.non_embedding_parameters)});
    ctx.emit({.model = name, .metric = "train.tokens", .value = static_cast<double>(config.loop.optimizer.max_steps *
                                                                                     config.loop.optimizer.batch_size * config.seq_len)});
    if (run.loop.train_tokens > 0) {
      ctx.emit({.model = name, .metric = "train.tokens_per_second", .value = tps, .extra = {{"threads", threads}}});
    }
  }
};

const biaslab::InputPort kInputs[] = {{"corpus", "corpus", 1, 1, "text to train on (corpus.text, corpus.synthetic)"}};

const biaslab::PluginDescriptor kPlugin = {
    .abi_version = biaslab::kPluginAbiVersion,
    .name = "source.pretrain",
    .version = "1.0.0",
    .kind = biaslab::PluginKind::source,
    .summary = "pretrain a small GPT-NeoX (causal) or BERT (masked) LM with Pythia-style checkpoints",
    .params_schema = R"schema({
      "$schema": "http://json-schema.org/draft-07/schema#",
      "type": "object", "additionalProperties": false,
      "properties": {
        "architecture": {"type": "string", "enum": ["gpt_neox", "bert"], "default": "gpt_neox",
          "description": "gpt_neox: GPTNeoXForCausalLM (Pythia); bert: BertForMaskedLM"},
        "num_layers": {"type": "integer", "minimum": 1, "default": 2, "description": "transformer layers"},
        "hidden_size": {"type": "integer", "minimum": 1, "default": 64, "description": "model width"},
        "num_heads": {"type": "integer", "minimum": 1, "default": 4, "description": "attention heads (must divide hidden_size)"},
        "intermediate_size": {"type": "integer", "minimum": 0, "default": 0, "description": "MLP width; 0: 4 x hidden_size"},
        "rotary_pct": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.25,
          "description": "gpt_neox: fraction of each head's dimensions that get rotary embeddings (Pythia: 0.25)"},
        "max_position_embeddings": {"type": "integer", "minimum": 0, "default": 0,
          "description": "positions in the config; 0: 2048 (gpt_neox) or max(512, seq_len) (bert)"},
        "seq_len": {"type": "integer", "minimum": 3, "default": 64, "description": "tokens per training sequence"},
        "batch_size": {"type": "integer", "minimum": 1, "default": 16, "description": "sequences per optimizer step"},
        "max_steps": {"type": "integer", "minimum": 0, "default": 300, "description": "optimizer steps"},
        "lr": {"type": "number", "exclusiveMinimum": 0, "default": 0.001, "description": "peak learning rate (AdamW)"},
        "min_lr_ratio": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.1,
          "description": "cosine decay ends at min_lr_ratio x lr (Pythia: 0.1)"},
        "warmup_fraction": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.01,
          "description": "linear warm-up over this fraction of max_steps (Pythia: 0.01)"},
        "weight_decay": {"type": "number", "minimum": 0, "default": 0.01,
          "description": "AdamW decoupled weight decay of matrices and embeddings (not biases or LayerNorm)"},
        "beta1": {"type": "number", "minimum": 0, "exclusiveMaximum": 1, "default": 0.9, "description": "AdamW beta1"},
        "beta2": {"type": "number", "minimum": 0, "exclusiveMaximum": 1, "default": 0.95, "description": "AdamW beta2 (Pythia: 0.95)"},
        "eps": {"type": "number", "exclusiveMinimum": 0, "default": 1e-8, "description": "AdamW epsilon"},
        "grad_clip": {"type": "number", "minimum": 0, "default": 1.0, "description": "global gradient-norm clip; 0: none"},
        "tokenizer": {"type": "string", "default": "byte",
          "description": "byte: byte-level tokenizer (no files); bpe: byte-level BPE trained on the corpus; else a data set (tokenizers/gpt-neox-20b), a tokenizer directory or a tokenizer.json"},
        "bpe_vocab_size": {"type": "integer", "minimum": 261, "default": 512,
          "description": "tokenizer = bpe: vocabulary size, special tokens and 256 bytes included"},
        "mlm_probability": {"type": "number", "exclusiveMinimum": 0, "maximum": 1, "default": 0.15,
          "description": "bert: share of tokens chosen for prediction (80% [MASK], 10% random, 10% kept)"},
        "checkpoint_schedule": {"type": "string", "enum": ["pythia", "final"], "default": "pythia",
          "description": "pythia: steps 0, 1, 2, 4, ..., 512 and every checkpoint_every steps; final: only the last step (plus checkpoint_steps/fractions)"},
        "checkpoint_every": {"type": "integer", "minimum": 0, "default": 1000,
          "description": "pythia schedule: linear checkpoint interval (Pythia: 1000); 0: none"},
        "checkpoint_steps": {"type": "array", "items": {"type": "integer", "minimum": 0}, "default": [],
          "description": "extra checkpoint steps (members step<N>)"},
        "checkpoint_fractions": {"type": "array", "items": {"type": "number", "minimum": 0, "maximum": 1}, "default": [],
          "description": "extra checkpoints at fractions of max_steps, e.g. [0.1, 0.5, 1.0] (members frac<f>, aliases of step<N>)"},
        "save_state_every": {"type": "integer", "minimum": 0, "default": 100,
          "description": "save resumable state every this many steps (and at every checkpoint)"},
        "log_every": {"type": "integer", "minimum": 0, "default": 50, "description": "loss-curve interval in steps"},
        "validation_batches": {"type": "integer", "minimum": 0, "default": 8,
          "description": "validation batches evaluated at each checkpoint (0: none)"},
        "threads": {"type": "integer", "minimum": 0, "default": 0,
          "description": "intra-op threads; 0: the node's thread budget. Results are bit-identical for the same seed and thread count"}
      }
    })schema",
    .inputs = kInputs,
    .num_inputs = 1,
    .output_type = "model",
    .create = [] { return std::unique_ptr<biaslab::Operator>(new Pretrain); }};

}  // namespace

BIASLAB_PLUGIN(kPlugin)
