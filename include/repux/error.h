#pragma once
// The one exception type of the library. Its message is a single line that names the file or value
// at fault and what was expected; the command line prints it and exits non-zero.
#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace repux {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// LibTorch's messages carry a stack trace after the first line; users see only the first.
inline std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace repux
