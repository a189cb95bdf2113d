#pragma once
// JSON files: read and parsed with an error naming the file, or written whole (temporary name, then
// rename).
#include <nlohmann/json.hpp>

#include <string>

namespace repux {

nlohmann::json read_json_file(const std::string& path);
void write_json_file(const nlohmann::json& j, const std::string& path);

}  // namespace repux
