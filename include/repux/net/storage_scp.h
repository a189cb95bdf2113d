#pragma once
// A DICOM Storage SCP (C-ECHO, C-STORE of CT and MR images, one slice per instance) that writes into a Spool, built on DCMTK's
// DcmStorageSCP. Only configured peers are accepted: an association from another AE title (or host)
// is refused at negotiation, as is any association while the spool is over its bound.
#include "repux/net/spool.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace repux {

struct StorageScpOptions {
  std::string ae_title = "REPUX";
  uint16_t port = 11112;
  // "AET" or "AET@host": who may store. Empty: nobody (a node must name its peers).
  std::vector<std::string> allowed_peers;
};

// Listens until `should_stop` says so (asked about once a second, and after each association).
// Received instances are in the spool when their C-STORE is acknowledged; segmenting them is the
// caller's business, on another thread (the Spool is safe to share).
void run_storage_scp(const StorageScpOptions& options, Spool& spool, const std::function<bool()>& should_stop);

}  // namespace repux
