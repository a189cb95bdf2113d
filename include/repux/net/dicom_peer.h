#pragma once
// DICOM network peers and sending to them, through DCMTK's dcmnet (no protocol code of our own).
#include "repux/net/dicom_tls.h"

#include <cstdint>
#include <string>
#include <vector>

namespace repux {

struct DicomPeer {
  std::string ae_title, host;
  uint16_t port = 0;
};
// "AET@host:port"; an error naming the text otherwise.
DicomPeer parse_dicom_peer(const std::string& text);

// Sends the files to `peer` with C-STORE in one association, calling itself `calling_ae`. An error
// (naming the peer and the file) when the association or a store is refused or times out (30 s).
// With `tls` enabled the association is DICOM TLS, the peer's certificate checked against tls.ca.
void store_files(const DicomPeer& peer, const std::string& calling_ae, const std::vector<std::string>& files, const DicomTls& tls = {});

// Retrieves a study from `peer` with C-GET into `folder` (one file per instance). Returns the number
// of files received; an error naming the peer when it refuses.
size_t get_study(const DicomPeer& peer, const std::string& calling_ae, const std::string& study_uid, const std::string& folder);

}  // namespace repux
