#pragma once
// The names a command's options answer to, for the suggestions (did_you_mean.cpp) and the bash
// completion (cmd_completion.cpp). Free of LibTorch, as both are.
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace repux::cli {

// "--model" (and with `short_names` also "-m") of each visible option, in the order they were added;
// hidden ones (former spellings, group "") left out.
std::vector<std::string> visible_option_names(const CLI::App& app, bool short_names);

}  // namespace repux::cli
