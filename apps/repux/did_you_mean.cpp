#include "did_you_mean.h"

#include "option_names.h"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

namespace repux::cli {
namespace {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// The commands parsed, from the program down to the last subcommand.
std::vector<const CLI::App*> parsed_chain(const CLI::App& app) {
  std::vector<const CLI::App*> chain{&app};
  while (true) {
    const auto subs = chain.back()->get_subcommands();
    if (subs.empty()) return chain;
    chain.push_back(subs.front());
  }
}

// Long option names ("--iterations") of a command and the ones above it (global options).
std::vector<std::string> option_names(const std::vector<const CLI::App*>& chain) {
  std::vector<std::string> names;
  for (const CLI::App* app : chain) {
    const auto own = visible_option_names(*app, false);
    names.insert(names.end(), own.begin(), own.end());
  }
  return names;
}

std::vector<std::string> subcommand_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) names.push_back(sub->get_name());
  return names;
}

std::string nearest(const std::string& word, const std::vector<std::string>& names) {
  std::string best;
  size_t best_distance = 3 + word.size() / 8;  // a typo or two; more for long names
  for (const auto& name : names) {
    const size_t d = edit_distance(word, name);
    if (d < best_distance) {
      best_distance = d;
      best = name;
    }
  }
  return best;
}

}  // namespace

std::string did_you_mean(const CLI::App& app) {
  const auto chain = parsed_chain(app);
  const auto options = option_names(chain);
  std::string lines;
  for (const CLI::App* a : chain) {
    for (const auto& argument : a->remaining()) {
      const std::string word = argument.substr(0, argument.find('='));
      const bool option = word.rfind("--", 0) == 0;
      const std::string near = option ? nearest(word, options) : chain.size() == 1 ? nearest(word, subcommand_names(app)) : "";
      if (!near.empty() && near != word) lines += fmt::format("did you mean {} (not {})?\n", near, word);
    }
  }
  return lines;
}

}  // namespace repux::cli
