#include "repux/io/json_file.h"

#include "repux/error.h"
#include "repux/io/atomic_file.h"

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

void write_json_file(const nlohmann::json& j, const std::string& path) { write_file_atomically(path, j.dump(1) + "\n"); }

}  // namespace repux
