// repux's own JSON files: a plan file (a Plan as model files store it, plus what `repux plan` adds) and a case
// store's index.json. Both are read strictly: unknown keys, wrong types and out-of-range values must end
// in a repux::Error naming the field, never a crash or an unnamed nlohmann exception.
#include "fuzz_target.h"
#include "repux/data/case_store.h"
#include "repux/model/planner.h"

#include <filesystem>
#include <fstream>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string store = repux::fuzz::folder_for_this_process("store");
  return repux::fuzz::run_reader(
      data, size, ".json",
      [](const std::string& path) {
        std::ifstream in(path);
        const auto j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
        if (j.is_discarded()) return;
        try {
          repux::planned_training_from_json(j);
        } catch (const repux::Error&) {
        }
        std::filesystem::copy_file(path, store + "/index.json", std::filesystem::copy_options::overwrite_existing);
        repux::CaseStore opened(store);
      });
}
