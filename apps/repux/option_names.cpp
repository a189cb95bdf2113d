#include "option_names.h"

namespace repux::cli {

std::vector<std::string> visible_option_names(const CLI::App& app, bool short_names) {
  std::vector<std::string> names;
  for (const CLI::Option* o : app.get_options()) {
    if (o->get_group().empty()) continue;
    for (const auto& l : o->get_lnames()) names.push_back("--" + l);
    if (!short_names) continue;
    for (const auto& s : o->get_snames()) names.push_back("-" + s);
  }
  return names;
}

}  // namespace repux::cli
