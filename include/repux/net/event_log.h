#pragma once
// The DICOM node's event log: one JSON object per line on stdout, with the time (seconds since the
// epoch), written whole and flushed even when several threads log at once.
#include <nlohmann/json.hpp>

namespace repux {

void log_event(nlohmann::json event);

}  // namespace repux
