#pragma once
// DICOM TLS (PS3.15 B.1, the BCP 195 profile) through DCMTK's dcmtls and Debian's OpenSSL: the node's
// certificate and key, the CA its peers' certificates must be signed by, and whether a peer must
// present one. The same settings serve the node's listening side and its sends.
#include <memory>
#include <string>

class DcmTLSTransportLayer;

namespace repux {

struct DicomTls {
  std::string certificate, private_key, ca;  // PEM files
  bool require_peer_certificate = false;
  bool enabled() const { return !certificate.empty(); }
};

// Checks the settings before anything listens: the files exist, all three or none are given, a
// required peer certificate has a CA. An error naming the option otherwise.
void check_dicom_tls(const DicomTls& tls);

// Configures a DCMTK TLS layer (created by the caller, acceptor or requestor) with `tls`; an error
// naming the file that DCMTK refused.
void configure_tls_layer(DcmTLSTransportLayer& layer, const DicomTls& tls);

}  // namespace repux
