#pragma once
// "Did you mean ...?" for a command line CLI11 refused: the nearest option or subcommand to each
// argument it did not expect (an edit distance small for the word's length), or nothing.
#include <CLI/CLI.hpp>

#include <string>

namespace repux::cli {

// One line per unexpected argument that has a near name, e.g. "did you mean --iterations (not --itertions)?".
std::string did_you_mean(const CLI::App& app);

}  // namespace repux::cli
