// `repux completion`: a bash completion script written from the command line's own definition (every
// subcommand and its options), so it cannot drift from the program. The package installs it as
// /usr/share/bash-completion/completions/repux; by hand: `source <(repux completion)`.
#include "commands.h"
#include "option_names.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <string>
#include <vector>

namespace repux::cli {
namespace {

// The long and short names of a command's visible options ("--model -m ...").
std::string option_words(const CLI::App& app) { return fmt::format("{}", fmt::join(visible_option_names(app, true), " ")); }

std::string completion_script(const CLI::App& app) {
  std::string names, cases;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    if (sub->get_group().empty()) continue;  // hidden subcommands (this one)
    names += (names.empty() ? "" : " ") + sub->get_name();
    cases += fmt::format("    {}) opts=\"{}\" ;;\n", sub->get_name(), option_words(*sub));
  }
  return fmt::format(R"(# bash completion for repux, written by `repux completion` from the program's options.
_repux() {{
  local cur=${{COMP_WORDS[COMP_CWORD]}} subcommands="{}" global="{}" sub="" opts="" i
  for ((i = 1; i < COMP_CWORD; i++)); do
    case " $subcommands " in *" ${{COMP_WORDS[i]}} "*) sub=${{COMP_WORDS[i]}}; break ;; esac
  done
  if [[ -z $sub ]]; then
    if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "$global" -- "$cur")); else COMPREPLY=($(compgen -W "$subcommands" -- "$cur")); fi
    return
  fi
  case $sub in
{}  esac
  if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "$opts $global" -- "$cur")); else COMPREPLY=($(compgen -f -- "$cur")); fi
}}
complete -o filenames -F _repux repux
)",
                     names, option_words(app), cases);
}

}  // namespace

void add_completion_command(CLI::App& app) {
  auto* c = app.add_subcommand("completion", "Print a bash completion script for repux (source <(repux completion))");
  c->group("");  // hidden from the help's lists; documented in the README
  c->callback([&app] { fmt::print("{}", completion_script(app)); });
}

}  // namespace repux::cli
