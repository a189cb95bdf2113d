#pragma once
// Small helpers about file names, shared by the library and the command line.
#include <string>

namespace repux {

inline bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace repux
