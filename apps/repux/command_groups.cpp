// The headings `repux --help` lists the subcommands under, in the order of the work.
#include "commands.h"

#include <map>
#include <string>

namespace repux::cli {

void group_subcommands(CLI::App& app) {
  static const std::map<std::string, std::string> heading{
      {"synth", "Workflow"},          {"check-dataset", "Workflow"},    {"plan", "Workflow"},
      {"preprocess", "Workflow"},     {"train", "Workflow"},            {"predict", "Workflow"},
      {"evaluate", "Workflow"},       {"cross-validate", "Workflow"},   {"postprocess", "Workflow"},
      {"report", "Workflow"},         {"view", "Workflow"},         {"demo", "Workflow"},             {"stats", "Clinical use"},
      {"convert", "Clinical use"},    {"serve", "Clinical use"},        {"pacs-segment", "Clinical use"},
      {"import", "Models and research"}, {"export", "Models and research"}, {"forward", "Models and research"},
      {"launch", "Models and research"}, {"erf", "Models and research"},    {"ablate", "Models and research"},
      {"info", "Volume tools"},       {"resample", "Volume tools"},     {"crop", "Volume tools"},
      {"relabel", "Volume tools"}};
  for (CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    const auto it = heading.find(sub->get_name());
    sub->group(it != heading.end() ? it->second : "Other");
  }
}

void relax_required(CLI::App& app) {
  for (CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    for (CLI::Option* option : sub->get_options()) option->required(false);
    relax_required(*sub);
  }
}

}  // namespace repux::cli
