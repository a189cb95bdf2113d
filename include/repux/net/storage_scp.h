#pragma once
// A DICOM Storage SCP (C-ECHO, C-STORE of CT and MR images) that writes into a Spool, built on DCMTK's
// DcmSCP. Several associations are served at once: `max_associations` threads each accept and serve
// associations on the one listening socket, so a slow or hostile client holds one thread, never the
// node; a peer address holds at most `max_associations_per_peer` connections (refused at TCP accept,
// before anything is read). Each connection's reads and writes time out (acse_timeout while the
// association is negotiated, dimse_timeout after).
// An association is accepted only when it calls our AE title from an allowed (AE title, address)
// pair, and while the spool is within its bound. Each C-STORE is answered after the instance is
// durable in the spool, or with a refusal status and a comment when the node will not keep it.
// With `tls` enabled, every association is DICOM TLS.
#include "repux/net/allowed_peers.h"
#include "repux/net/dicom_tls.h"
#include "repux/net/spool.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace repux {

struct StorageScpOptions {
  std::string ae_title = "REPUX";
  uint16_t port = 11112;
  std::vector<AllowedPeer> allowed_peers;  // empty: nobody (a node must name its peers)
  int max_associations = 32, max_associations_per_peer = 16;
  int acse_timeout = 30, dimse_timeout = 30;  // seconds, Orthanc's DicomScpTimeout
  DicomTls tls;
};

// Listens until `should_stop` says so (asked about once a second by each thread, and after each
// association); associations under way are finished first. Events go to the event log.
void run_storage_scp(const StorageScpOptions& options, Spool& spool, const std::function<bool()>& should_stop);

}  // namespace repux
