#include "repux/net/dicom_peer.h"

#include "repux/error.h"
#include "repux/io/dicom_toolkit.h"
#include "repux/io/dicom_series.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdatset.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmnet/scu.h>
#include <dcmtk/dcmtls/tlsscu.h>

#include <filesystem>
#include <memory>

namespace fs = std::filesystem;

namespace repux {
namespace {

OFList<OFString> offered_syntaxes() {
  OFList<OFString> list;
  list.push_back(UID_LittleEndianExplicitTransferSyntax);
  list.push_back(UID_LittleEndianImplicitTransferSyntax);
  return list;
}

// "AET@host:port", as errors name a peer.
std::string peer_name(const DicomPeer& peer) { return fmt::format("{}@{}:{}", peer.ae_title, peer.host, peer.port); }

// An SCU set up for `peer`, not yet negotiated.
void configure(DcmSCU& scu, const DicomPeer& peer, const std::string& calling_ae) {
  dicom::initialise();  // DCMTK's log: silent unless REPUX_DICOM_LOG is set
  scu.setAETitle(calling_ae.c_str());
  scu.setPeerAETitle(peer.ae_title.c_str());
  scu.setPeerHostName(peer.host.c_str());
  scu.setPeerPort(peer.port);
  scu.setACSETimeout(30);
  scu.setDIMSETimeout(60);
  scu.setDIMSEBlockingMode(DIMSE_NONBLOCKING);
}

// A plain SCU, or a TLS one that presents our certificate and requires the peer's, signed by tls.ca.
std::unique_ptr<DcmSCU> make_scu(const DicomTls& tls) {
  if (!tls.enabled()) return std::make_unique<DcmSCU>();
  check_dicom_tls(tls);
  auto scu = std::make_unique<DcmTLSSCU>();
  scu->enableAuthentication(tls.private_key.c_str(), tls.certificate.c_str());
  scu->addTrustedCertFile(tls.ca.c_str());
  scu->setPeerCertVerification(DCV_requireCertificate);
  return scu;
}

void connect(DcmSCU& scu, const DicomPeer& peer) {
  OFCondition status = scu.initNetwork();
  if (auto* tls = dynamic_cast<DcmTLSSCU*>(&scu); tls && status.good()) status = tls->setTLSProfile(TSP_Profile_BCP195);
  if (status.good()) status = scu.negotiateAssociation();
  if (status.bad()) fail("{}: association refused or failed ({})", peer_name(peer), status.text());
}

std::string sop_class_of(const std::string& file) {
  DcmFileFormat ff;
  if (ff.loadFile(file.c_str(), EXS_Unknown, EGL_noChange, 256).bad()) fail("{}: not a readable DICOM file", file);
  return dicom::text(*ff.getDataset(), DCM_SOPClassUID);
}

}  // namespace

DicomPeer parse_dicom_peer(const std::string& text) {
  const auto at = text.find('@'), colon = text.rfind(':');
  DicomPeer peer;
  if (at == std::string::npos || colon == std::string::npos || colon < at || at == 0 || at > 16) {
    fail("'{}': expected AET@host:port (an AE title of 1-16 characters)", text);
  }
  peer.ae_title = text.substr(0, at);
  peer.host = text.substr(at + 1, colon - at - 1);
  int port = 0;
  try {
    size_t used = 0;
    port = std::stoi(text.substr(colon + 1), &used);
    if (used != text.size() - colon - 1) port = 0;
  } catch (const std::exception&) {
  }
  if (peer.host.empty() || port < 1 || port > 65535) fail("'{}': expected AET@host:port with a port in 1..65535", text);
  peer.port = static_cast<uint16_t>(port);
  return peer;
}

void store_files(const DicomPeer& peer, const std::string& calling_ae, const std::vector<std::string>& files, const DicomTls& tls) {
  const std::unique_ptr<DcmSCU> made = make_scu(tls);
  DcmSCU& scu = *made;
  configure(scu, peer, calling_ae);
  std::vector<std::string> classes;
  for (const auto& f : files) {
    classes.push_back(sop_class_of(f));
    scu.addPresentationContext(classes.back().c_str(), offered_syntaxes());
  }
  connect(scu, peer);
  for (size_t i = 0; i < files.size(); ++i) {
    const T_ASC_PresentationContextID id = scu.findAnyPresentationContextID(classes[i].c_str(), UID_LittleEndianExplicitTransferSyntax);
    Uint16 status = 0;
    const OFCondition sent = id == 0 ? NET_EC_InvalidSOPClassUID : scu.sendSTORERequest(id, files[i].c_str(), nullptr, status);
    if (sent.bad() || status != STATUS_Success) {
      scu.releaseAssociation();
      fail("{}: C-STORE of {} failed ({}, status 0x{:04x})", peer_name(peer), files[i], sent.text(), status);
    }
  }
  scu.releaseAssociation();
}

size_t get_study(const DicomPeer& peer, const std::string& calling_ae, const std::string& study_uid, const std::string& folder) {
  fs::create_directories(folder);
  DcmSCU scu;
  configure(scu, peer, calling_ae);
  scu.addPresentationContext(UID_GETStudyRootQueryRetrieveInformationModel, offered_syntaxes());
  for (const char* storage : {UID_CTImageStorage, UID_MRImageStorage, UID_SegmentationStorage, UID_RTStructureSetStorage}) {
    scu.addPresentationContext(storage, offered_syntaxes(), ASC_SC_ROLE_SCP);
  }
  scu.setStorageDir(folder.c_str());
  scu.setStorageMode(DCMSCU_STORAGE_DISK);
  connect(scu, peer);
  const T_ASC_PresentationContextID id = scu.findPresentationContextID(UID_GETStudyRootQueryRetrieveInformationModel, "");
  if (id == 0) fail("{}: does not offer C-GET (study root)", peer_name(peer));
  DcmDataset query;
  query.putAndInsertOFStringArray(DCM_QueryRetrieveLevel, "STUDY");
  query.putAndInsertOFStringArray(DCM_StudyInstanceUID, study_uid.c_str());
  OFList<RetrieveResponse*> responses;
  const OFCondition status = scu.sendCGETRequest(id, &query, &responses);
  for (auto* r : responses) delete r;
  scu.releaseAssociation();
  if (status.bad()) fail("{}: C-GET of study {} failed ({})", peer_name(peer), study_uid, status.text());
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(folder)) files += e.is_regular_file() ? 1 : 0;
  return files;
}

}  // namespace repux
