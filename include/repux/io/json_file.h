#pragma once
// JSON files: read and parsed with an error naming the file, or written whole (temporary name, then
// rename).
// repux's own files (plans, store indexes, ablation configs) are read strictly: an unknown key is an
// error naming it (a misplaced or misspelt field is never silently ignored), and a value of the
// wrong type names its field.
#include "repux/error.h"

#include <nlohmann/json.hpp>

#include <initializer_list>
#include <string>

namespace repux {

nlohmann::json read_json_file(const std::string& path);
void write_json_file(const nlohmann::json& j, const std::string& path);

// Refuses a non-object, and any key of `j` outside `known`: "unknown key 'dims' in the plan's top
// level; expected one of: ...". `where` names the object ("the plan's top level", "field 'inference'").
void check_known_keys(const nlohmann::json& j, std::initializer_list<const char*> known, const std::string& where);

// nlohmann's message without its "[json.exception.type_error.302] " prefix.
std::string json_problem(const nlohmann::json::exception& e);

// j[key] as T, or `fallback` when the key is absent; a value of another type is an error naming the key.
template <typename T>
T field_or(const nlohmann::json& j, const std::string& key, T fallback) {
  if (!j.contains(key)) return fallback;
  try {
    return j.at(key).get<T>();
  } catch (const nlohmann::json::exception& e) {
    fail("field '{}': {} (got {})", key, json_problem(e), j.at(key).dump());
  }
}

}  // namespace repux
