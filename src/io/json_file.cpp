#include "repux/io/json_file.h"

#include "repux/error.h"
#include "repux/io/atomic_file.h"

#include <algorithm>
#include <fstream>

namespace repux {

nlohmann::json read_json_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail("{}: cannot be read", path);
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not valid JSON ({})", path, first_line(e.what()));
  }
}

std::string json_problem(const nlohmann::json::exception& e) {
  const std::string m = first_line(e.what());
  const auto end = m.find("] ");
  return m.rfind("[json.exception", 0) == 0 && end != std::string::npos ? m.substr(end + 2) : m;
}

void check_known_keys(const nlohmann::json& j, std::initializer_list<const char*> known, const std::string& where) {
  if (!j.is_object()) fail("{}: expected a JSON object, got {}", where, j.type_name());
  for (const auto& item : j.items()) {
    if (std::find_if(known.begin(), known.end(), [&](const char* k) { return item.key() == k; }) != known.end()) continue;
    std::string list;
    for (const char* k : known) list += (list.empty() ? "" : ", ") + std::string(k);
    fail("unknown key '{}' in {}; expected one of: {}", item.key(), where, list);
  }
}

void write_json_file(const nlohmann::json& j, const std::string& path) { write_file_atomically(path, j.dump(1) + "\n"); }

}  // namespace repux
