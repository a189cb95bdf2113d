#include "repux/net/dicom_tls.h"

#include "repux/error.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmtls/tlslayer.h>

#include <filesystem>

namespace repux {

void check_dicom_tls(const DicomTls& tls) {
  const bool any = !tls.certificate.empty() || !tls.private_key.empty() || !tls.ca.empty();
  if (!any) {
    if (tls.require_peer_certificate) fail("--tls-require-peer-cert needs --tls-cert, --tls-key and --tls-ca");
    return;
  }
  for (const auto& [option, file] : {std::pair<const char*, std::string>{"--tls-cert", tls.certificate}, {"--tls-key", tls.private_key}, {"--tls-ca", tls.ca}}) {
    if (file.empty()) fail("DICOM TLS needs --tls-cert, --tls-key and --tls-ca; {} is missing", option);
    if (!std::filesystem::is_regular_file(file)) fail("{} {}: no such file", option, file);
  }
}

void configure_tls_layer(DcmTLSTransportLayer& layer, const DicomTls& tls) {
  if (layer.setPrivateKeyFile(tls.private_key.c_str(), DCF_Filetype_PEM).bad()) fail("--tls-key {}: not a PEM private key", tls.private_key);
  if (layer.setCertificateFile(tls.certificate.c_str(), DCF_Filetype_PEM).bad()) fail("--tls-cert {}: not a PEM certificate", tls.certificate);
  if (!layer.checkPrivateKeyMatchesCertificate()) fail("--tls-key {} does not match --tls-cert {}", tls.private_key, tls.certificate);
  if (layer.addTrustedCertificateFile(tls.ca.c_str(), DCF_Filetype_PEM).bad()) fail("--tls-ca {}: not a PEM certificate", tls.ca);
  if (layer.setTLSProfile(TSP_Profile_BCP195).bad() || layer.activateCipherSuites().bad()) fail("DICOM TLS: OpenSSL refused the BCP 195 cipher suites");
  layer.setCertificateVerification(tls.require_peer_certificate ? DCV_requireCertificate : DCV_checkCertificate);
}

}  // namespace repux
