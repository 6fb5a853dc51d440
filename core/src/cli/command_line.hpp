#pragma once
// Argument parsing shared by the sub-commands that take options plus one operand (a pipeline file,
// a run directory): `biaslab run|plan|validate PIPELINE`, `slurm PIPELINE`, `results|report RUN_DIR`.
#include <string>

#include <boost/program_options.hpp>

#include "cli/commands.hpp"

namespace biaslab::cli {

// Parses `args` against `options` plus the operand `operand_name` (at most one, stored in
// `operand`) and runs the options' notifiers. Throws boost::program_options::error on bad input;
// the caller prints its own usage.
boost::program_options::variables_map parse_with_operand(const Args& args,
                                                         const boost::program_options::options_description& options,
                                                         const char* operand_name, std::string& operand);

}  // namespace biaslab::cli
