// `biaslab model info PATH [--json]`: what a model directory holds, as the runtime loads it.
#include <iostream>

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include "biaslab/runtime/model.hpp"
#include "commands.hpp"

namespace biaslab::cli {

namespace po = boost::program_options;

namespace {

void print_usage(std::ostream& out, const po::options_description& options) {
  out << "usage: biaslab model info PATH [--json]\n\n"
         "Loads the Hugging Face model directory PATH (config.json + safetensors or pytorch_model.bin)\n"
         "in its stored dtype and prints its architecture, parameter count, dtype, storage bytes and\n"
         "the linear layers compressors can replace.\n\n"
      << options;
}

}  // namespace

int cmd_model(const Args& args, const GlobalOptions& g) {
  po::options_description options("options");
  options.add_options()("help,h", "show this help")("json", "print one JSON object");
  po::options_description hidden;
  hidden.add_options()("action", po::value<std::string>())("path", po::value<std::string>());
  po::options_description all;
  all.add(options).add(hidden);
  po::positional_options_description positional;
  positional.add("action", 1).add("path", 1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(all).positional(positional).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "biaslab model: " << e.what() << "\n";
    print_usage(std::cerr, options);
    return 2;
  }
  if (vm.count("help")) {
    print_usage(std::cout, options);
    return 0;
  }
  if (!vm.count("action") || vm["action"].as<std::string>() != "info" || !vm.count("path")) {
    print_usage(std::cerr, options);
    return 2;
  }
  const std::string path = vm["path"].as<std::string>();
  try {
    runtime::LoadOptions load;
    load.dtype = std::nullopt;  // report the stored dtype and its size
    load.threads = g.threads;
    auto model = runtime::load_model(path, load);
    const auto& c = model->config();
    nlohmann::json layers = nlohmann::json::array();
    for (auto* l : model->linear_layers(true)) {
      const auto& k = l->kernel();
      layers.push_back({{"name", l->name()},
                        {"format", k->format()},
                        {"in_features", k->in_features()},
                        {"out_features", k->out_features()},
                        {"bias", k->bias().has_value()},
                        {"storage_bytes", k->storage_bytes()},
                        {"output_head", l->name() == model->output_head_name()}});
    }
    nlohmann::json info = {{"path", path},
                           {"architecture", model->architecture()},
                           {"model_type", c.model_type},
                           {"kind", model->is_causal() ? "causal" : "masked"},
                           {"dtype", runtime::dtype_name(model->dtype())},
                           {"parameter_count", model->parameter_count()},
                           {"storage_bytes", model->storage_bytes()},
                           {"vocab_size", c.vocab_size},
                           {"hidden_size", c.hidden_size},
                           {"num_layers", c.num_layers},
                           {"num_heads", c.num_heads},
                           {"num_kv_heads", c.num_kv_heads},
                           {"tie_word_embeddings", c.tie_word_embeddings},
                           {"output_head", model->output_head_name()},
                           {"linear_layers", layers}};
    if (vm.count("json")) {
      std::cout << info.dump() << "\n";
      return 0;
    }
    std::cout << "path:          " << path << "\n"
              << "architecture:  " << model->architecture() << " (" << c.model_type << ", "
              << info["kind"].get<std::string>() << " LM)\n"
              << "dtype:         " << info["dtype"].get<std::string>() << "\n"
              << "parameters:    " << model->parameter_count() << "\n"
              << "storage bytes: " << model->storage_bytes() << "\n"
              << "shape:         " << c.num_layers << " layers, hidden " << c.hidden_size << ", " << c.num_heads
              << " heads (" << c.num_kv_heads << " kv), vocab " << c.vocab_size << "\n"
              << "linear layers: " << layers.size() << " (output head: " << model->output_head_name()
              << (c.tie_word_embeddings ? ", tied" : "") << ")\n";
    for (const auto& l : layers) {
      std::cout << "  " << l["name"].get<std::string>() << "  " << l["format"].get<std::string>() << "  "
                << l["out_features"].get<std::int64_t>() << "x" << l["in_features"].get<std::int64_t>()
                << (l["bias"].get<bool>() ? " +bias" : "") << "\n";
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "biaslab model info: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace biaslab::cli
