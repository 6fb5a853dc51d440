#include "cli/command_line.hpp"

namespace biaslab::cli {

namespace po = boost::program_options;

po::variables_map parse_with_operand(const Args& args, const po::options_description& options, const char* operand_name,
                                     std::string& operand) {
  po::options_description hidden;
  hidden.add_options()(operand_name, po::value(&operand));
  po::options_description all;
  all.add(options).add(hidden);
  po::positional_options_description positional;
  positional.add(operand_name, 1);
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(all).positional(positional).run(), vm);
  po::notify(vm);
  return vm;
}

}  // namespace biaslab::cli
