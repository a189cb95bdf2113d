#pragma once
// For the DICOM tests: running the other tools (plastimatch, DCMTK's programs, dcm2niix, dciodvfy).
#include "test_util.h"

#include <stdexcept>
#include <string>

namespace repux::test {

// A path as one shell word (the tests' paths hold no single quote).
inline std::string arg(const std::string& s) { return "'" + s + "'"; }

// Runs a tool; a failure stops the test with the tool's output.
inline std::string shell(const std::string& command) {
  const auto r = run_command(command + " 2>&1 </dev/null");
  if (r.exit_code != 0) throw std::runtime_error(command + " failed (" + std::to_string(r.exit_code) + "): " + r.output);
  return r.output;
}

}  // namespace repux::test
