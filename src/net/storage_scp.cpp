#include "repux/net/storage_scp.h"

#include "repux/error.h"
#include "repux/io/dicom_toolkit.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdatset.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmnet/dstorscp.h>

#include <fmt/format.h>

#include <algorithm>

namespace repux {
namespace {

// The transfer syntaxes accepted: uncompressed, and the lossless compressions the series reader decodes.
OFList<OFString> transfer_syntaxes() {
  OFList<OFString> list;
  for (const char* uid : {UID_LittleEndianExplicitTransferSyntax, UID_LittleEndianImplicitTransferSyntax, UID_BigEndianExplicitTransferSyntax,
                          UID_JPEGProcess14SV1TransferSyntax, UID_JPEGLSLosslessTransferSyntax, UID_RLELosslessTransferSyntax}) {
    list.push_back(uid);
  }
  return list;
}

class SpoolingScp : public DcmStorageSCP {
 public:
  SpoolingScp(const StorageScpOptions& options, Spool& spool, const std::function<bool()>& should_stop)
      : options_(options), spool_(spool), should_stop_(should_stop) {}

 protected:
  OFBool checkCallingAETitleAccepted(const OFString& calling) override {
    const bool known = std::any_of(options_.allowed_peers.begin(), options_.allowed_peers.end(),
                                   [&](const std::string& p) { return p.substr(0, p.find('@')) == calling.c_str(); });
    if (!known) fmt::print(stderr, "{{\"event\":\"refused\",\"reason\":\"unknown AE title\",\"calling_ae\":\"{}\"}}\n", calling.c_str());
    return known;
  }
  // The peer's IP address (what DCMTK passes here is empty without host name lookups).
  OFBool checkCallingHostAccepted(const OFString& given) override {
    const std::string address = given.empty() ? getPeerIP().c_str() : given.c_str();
    const std::string host = address.substr(0, address.rfind(':'));
    for (const auto& p : options_.allowed_peers) {
      const auto at = p.find('@');
      if (at == std::string::npos || p.substr(at + 1) == host || p.substr(at + 1) == address) return OFTrue;
    }
    fmt::print(stderr, "{{\"event\":\"refused\",\"reason\":\"host not allowed\",\"host\":\"{}\"}}\n", address);
    return OFFalse;
  }
  void notifyAssociationRequest(const T_ASC_Parameters& params, DcmSCPActionType& action) override {
    DcmStorageSCP::notifyAssociationRequest(params, action);  // the AE title and host checks
    if (action != DCMSCP_ACTION_REFUSE_ASSOCIATION && spool_.over_limit()) {
      fmt::print(stderr, "{{\"event\": \"refused\", \"reason\": \"spool over its bound\", \"calling_ae\": \"{}\"}}\n",
                 params.DULparams.callingAPTitle);
      action = DCMSCP_ACTION_REFUSE_ASSOCIATION;
    }
  }
  OFCondition generateSTORERequestFilename(const T_DIMSE_C_StoreRQ& request, OFString& filename) override {
    try {
      filename = spool_.incoming_file(request.AffectedSOPInstanceUID).c_str();
    } catch (const Error& e) {
      return makeOFCondition(0, 1, OF_error, e.what());
    }
    return EC_Normal;
  }
  void notifyInstanceStored(const OFString& filename, const OFString&, const OFString&, DcmDataset*) const override {
    try {
      spool_.add_received(filename.c_str());
    } catch (const std::exception& e) {
      fmt::print(stderr, "{{\"event\": \"rejected_instance\", \"error\": \"{}\"}}\n", first_line(e.what()));
    }
  }
  OFBool stopAfterConnectionTimeout() override { return should_stop_(); }
  OFBool stopAfterCurrentAssociation() override { return should_stop_(); }

 private:
  StorageScpOptions options_;
  Spool& spool_;
  std::function<bool()> should_stop_;
};

}  // namespace

void run_storage_scp(const StorageScpOptions& options, Spool& spool, const std::function<bool()>& should_stop) {
  dicom::initialise();  // DCMTK's log: silent unless REPUX_DICOM_LOG is set (association details)
  SpoolingScp scp(options, spool, should_stop);
  scp.setAETitle(options.ae_title.c_str());
  scp.setPort(options.port);
  scp.setConnectionBlockingMode(DUL_NOBLOCK);
  scp.setConnectionTimeout(1);
  scp.setACSETimeout(30);
  scp.setDIMSETimeout(60);
  scp.setHostLookupEnabled(OFFalse);
  const OFList<OFString> syntaxes = transfer_syntaxes();
  // Verification (C-ECHO) is DcmStorageSCP's own; a second context for it makes the profile invalid.
  // Enhanced (multi-frame) CT/MR are not offered: the series reader refuses them, and a sender is
  // better told so at negotiation than by a SEG that never comes.
  for (const char* sop : {UID_CTImageStorage, UID_MRImageStorage}) {
    if (scp.addPresentationContext(sop, syntaxes).bad()) fail("cannot configure the DICOM node's presentation contexts");
  }
  const OFCondition status = scp.listen();
  if (status.bad() && status != NET_EC_StopAfterConnectionTimeout && status != NET_EC_StopAfterAssociation) {
    fail("DICOM node {} on port {}: {}", options.ae_title, options.port, status.text());
  }
}

}  // namespace repux
