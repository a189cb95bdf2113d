#pragma once
// One name table per enum. Every enum that is read from a command line or a JSON file, or printed in
// a message, declares a single table of (value, name) pairs next to its definition:
//
//   template <> struct EnumNames<Blending> {
//     static constexpr const char* what = "blending";
//     static constexpr std::pair<Blending, const char*> table[] = {{Blending::Constant, "constant"}, ...};
//   };
//
// and everything else goes through these functions: parsing (an unknown name is an error that lists
// the known ones), printing, and the list shown in help texts. A value may have further names after
// its first (aliases such as "float32" for fp32); the first is the one printed.
#include "repux/error.h"

#include <string>
#include <utility>

namespace repux {

template <typename E>
struct EnumNames;  // specialised next to each enum

template <typename E>
std::string enum_name(E value) {
  for (const auto& [v, name] : EnumNames<E>::table) {
    if (v == value) return name;
  }
  return "?";
}

// "a, b, c": the canonical names, for messages and help texts.
template <typename E>
std::string enum_name_list() {
  std::string out;
  for (const auto& [value, name] : EnumNames<E>::table) {
    if (enum_name(value) != name) continue;  // an alias
    out += (out.empty() ? "" : ", ") + std::string(name);
  }
  return out;
}

template <typename E>
E enum_from_name(const std::string& name) {
  for (const auto& [value, n] : EnumNames<E>::table) {
    if (name == n) return value;
  }
  fail("unknown {} '{}', expected one of: {}", EnumNames<E>::what, name, enum_name_list<E>());
}

}  // namespace repux
