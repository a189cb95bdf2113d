#include "repux/net/storage_scp.h"

#include "repux/error.h"
#include "repux/io/dicom_toolkit.h"
#include "repux/net/event_log.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdatset.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmnet/dcmtrans.h>
#include <dcmtk/dcmnet/dulstruc.h>
#include <dcmtk/dcmnet/scp.h>
#include <dcmtk/dcmtls/tlslayer.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/socket.h>

#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

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

// Enhanced (multi-frame) CT/MR are not offered: the series reader refuses them, and a sender is better
// told so at negotiation than by a SEG that never comes.
bool is_stored_class(const std::string& sop_class) { return sop_class == UID_CTImageStorage || sop_class == UID_MRImageStorage; }

std::string peer_address(int socket) {
  sockaddr_storage address{};
  socklen_t length = sizeof(address);
  char text[INET6_ADDRSTRLEN] = "";
  if (::getpeername(socket, reinterpret_cast<sockaddr*>(&address), &length) != 0) return "";
  if (address.ss_family == AF_INET) ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&address)->sin_addr, text, sizeof(text));
  if (address.ss_family == AF_INET6) ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&address)->sin6_addr, text, sizeof(text));
  return text;
}

void set_socket_timeouts(int socket, int seconds) {
  const timeval t{seconds, 0};
  ::setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &t, sizeof(t));
  ::setsockopt(socket, SOL_SOCKET, SO_SNDTIMEO, &t, sizeof(t));
}

// Open connections per peer address, within a bound.
class PeerCounter {
 public:
  explicit PeerCounter(int bound) : bound_(bound) {}
  bool enter(const std::string& address) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (open_[address] >= bound_) return false;
    ++open_[address];
    return true;
  }
  void leave(const std::string& address) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (--open_[address] <= 0) open_.erase(address);
  }

 private:
  int bound_;
  std::map<std::string, int> open_;
  std::mutex mutex_;
};

// A connection of DCMTK's (TCP or TLS) that leaves its peer's count when it is destroyed.
class CountedConnection : public DcmTransportConnection {
 public:
  CountedConnection(DcmTransportConnection* inner, DcmNativeSocketType socket, PeerCounter& counter, std::string address)
      : DcmTransportConnection(socket), inner_(inner), counter_(counter), address_(std::move(address)) {}
  ~CountedConnection() override { counter_.leave(address_); }
  OFCondition serverSideHandshake() override { return inner_->serverSideHandshake(); }
  OFCondition clientSideHandshake() override { return inner_->clientSideHandshake(); }
  OFCondition renegotiate(const char* suite) override { return inner_->renegotiate(suite); }
  ssize_t read(void* buf, size_t n) override { return inner_->read(buf, n); }
  ssize_t write(void* buf, size_t n) override { return inner_->write(buf, n); }
  void close() override { inner_->close(); }
  void closeTransportConnection() override { inner_->closeTransportConnection(); }
  unsigned long getPeerCertificateLength() override { return inner_->getPeerCertificateLength(); }
  unsigned long getPeerCertificate(void* buf, unsigned long n) override { return inner_->getPeerCertificate(buf, n); }
  OFBool networkDataAvailable(int timeout) override { return inner_->networkDataAvailable(timeout); }
  OFBool isTransparentConnection() override { return inner_->isTransparentConnection(); }
  OFString& dumpConnectionParameters(OFString& s) override { return inner_->dumpConnectionParameters(s); }

 private:
  std::unique_ptr<DcmTransportConnection> inner_;
  PeerCounter& counter_;
  std::string address_;
};

// DCMTK's transport layer (`Layer`: plain TCP or TLS) with the per-peer bound and socket timeouts
// applied to each connection as it is accepted, before anything is read from it.
template <class Layer>
class BoundedLayer : public Layer {
 public:
  template <class... Args>
  BoundedLayer(PeerCounter& counter, int timeout, bool secure, Args&&... args)
      : Layer(std::forward<Args>(args)...), counter_(counter), timeout_(timeout), secure_(secure) {}
  DcmTransportConnection* createConnection(DcmNativeSocketType socket, OFBool) override {
    const std::string address = peer_address(socket);
    if (!counter_.enter(address)) {
      log_event({{"event", "refused"}, {"reason", "too many associations from this address"}, {"host", address}});
      return nullptr;  // DCMTK closes the socket
    }
    set_socket_timeouts(socket, timeout_);
    DcmTransportConnection* inner = Layer::createConnection(socket, secure_);
    if (!inner) {
      counter_.leave(address);
      return nullptr;
    }
    return new CountedConnection(inner, socket, counter_, address);
  }

 private:
  PeerCounter& counter_;
  int timeout_;
  bool secure_;
};

// One thread's SCP: accepts an association on the shared network, serves it, and again.
class NodeAssociation : public DcmSCP {
 public:
  NodeAssociation(const StorageScpOptions& options, Spool& spool, const std::function<bool()>& should_stop)
      : options_(options), spool_(spool), should_stop_(should_stop) {
    setAETitle(options.ae_title.c_str());
    setPort(options.port);
    setConnectionBlockingMode(DUL_NOBLOCK);
    setConnectionTimeout(1);
    setACSETimeout(static_cast<Uint32>(options.acse_timeout));
    setDIMSEBlockingMode(DIMSE_NONBLOCKING);
    setDIMSETimeout(static_cast<Uint32>(options.dimse_timeout));
    setHostLookupEnabled(OFFalse);
    const OFList<OFString> syntaxes = transfer_syntaxes();
    for (const char* sop : {UID_VerificationSOPClass, UID_CTImageStorage, UID_MRImageStorage}) {
      if (addPresentationContext(sop, syntaxes).bad()) fail("cannot configure the DICOM node's presentation contexts");
    }
  }
  // Serves the next association on `network` (or returns after a second without one).
  void serve_next(T_ASC_Network* network) {
    released_ = false;
    association_ = spool_.new_association();
    waitForAssociationRQ(network);
  }

 protected:
  OFBool checkCalledAETitleAccepted(const OFString& called) override {
    if (called == options_.ae_title.c_str()) return OFTrue;
    log_event({{"event", "refused"}, {"reason", "called AE title is not ours"}, {"called_ae", called.c_str()}, {"host", getPeerIP().c_str()}});
    return OFFalse;
  }
  // The pair: this title from this address (what DCMTK passes for the host is empty without lookups).
  OFBool checkCallingAETitleAccepted(const OFString& calling) override {
    if (is_allowed(options_.allowed_peers, calling.c_str(), getPeerIP().c_str())) return OFTrue;
    log_event({{"event", "refused"}, {"reason", "AE title not allowed from this address"}, {"calling_ae", calling.c_str()},
               {"host", getPeerIP().c_str()}});
    return OFFalse;
  }
  void notifyAssociationRequest(const T_ASC_Parameters& params, DcmSCPActionType& action) override {
    if (spool_.over_limit()) {
      log_event({{"event", "refused"}, {"reason", "spool over its bound"}, {"calling_ae", params.DULparams.callingAPTitle}});
      action = DCMSCP_ACTION_REFUSE_ASSOCIATION;
    }
  }
  OFCondition handleIncomingCommand(T_DIMSE_Message* message, const DcmPresentationContextInfo& context) override {
    if (message->CommandField != DIMSE_C_STORE_RQ) return DcmSCP::handleIncomingCommand(message, context);
    return store(message->msg.CStoreRQ, context.presentationContextID);
  }
  void notifyReleaseRequest() override { released_ = true; }
  void notifyAssociationTermination() override { spool_.association_ended(association_, released_); }
  OFBool stopAfterConnectionTimeout() override { return should_stop_(); }
  OFBool stopAfterCurrentAssociation() override { return should_stop_(); }

 private:
  // Receives the data set into a file of the spool's incoming/, hands it to the spool, answers.
  OFCondition store(T_DIMSE_C_StoreRQ& request, T_ASC_PresentationContextID context) {
    const std::string file = spool_.incoming_file();
    const StoreRequest expected{request.AffectedSOPClassUID, request.AffectedSOPInstanceUID};
    const OFCondition received = receiveSTORERequest(request, context, file.c_str());
    Uint16 status = STATUS_Success;
    std::string comment;
    if (received.bad()) {
      std::remove(file.c_str());
      return received;  // the association is gone or broken: nothing to answer
    }
    try {
      if (!is_stored_class(expected.sop_class_uid)) {
        std::remove(file.c_str());
        throw StoreRefused(0x0122, "this node stores CT and MR images only");
      }
      spool_.add_received(file, expected, association_);  // removes the file when it refuses it
    } catch (const StoreRefused& e) {
      status = e.status();
      comment = first_line(e.what());
      log_event({{"event", "refused_instance"}, {"instance", expected.sop_instance_uid}, {"status", status}, {"error", comment},
                 {"calling_ae", getPeerAETitle().c_str()}});
    }
    DcmDataset detail;
    if (!comment.empty()) detail.putAndInsertString(DCM_ErrorComment, comment.substr(0, 64).c_str());
    return sendSTOREResponse(context, request.MessageID, request.AffectedSOPClassUID, request.AffectedSOPInstanceUID, status,
                             comment.empty() ? nullptr : &detail);
  }

  const StorageScpOptions& options_;
  Spool& spool_;
  const std::function<bool()>& should_stop_;
  uint64_t association_ = 0;
  bool released_ = false;
};

// The listening network: DCMTK's, with our transport layer; its socket non-blocking, so that the
// threads that lose the race for a connection return to their loop instead of waiting in accept().
struct Network {
  T_ASC_Network* net = nullptr;
  std::unique_ptr<DcmTransportLayer> layer;
  ~Network() {
    if (net) ASC_dropNetwork(&net);
  }
};

std::unique_ptr<DcmTransportLayer> transport_layer(const StorageScpOptions& o, PeerCounter& counter) {
  if (!o.tls.enabled()) return std::make_unique<BoundedLayer<DcmTransportLayer>>(counter, o.acse_timeout, false);
  auto tls = std::make_unique<BoundedLayer<DcmTLSTransportLayer>>(counter, o.acse_timeout, true, NET_ACCEPTOR, nullptr, OFTrue);
  configure_tls_layer(*tls, o.tls);
  return tls;
}

void open_network(Network& n, const StorageScpOptions& o, PeerCounter& counter) {
  const OFCondition opened = ASC_initializeNetwork(NET_ACCEPTOR, o.port, o.acse_timeout, &n.net);
  if (opened.bad()) fail("DICOM node {} on port {}: {}", o.ae_title, o.port, opened.text());
  n.layer = transport_layer(o, counter);
  if (ASC_setTransportLayer(n.net, n.layer.get(), 0).bad()) fail("DICOM node {}: cannot set its transport layer", o.ae_title);
  const auto* key = static_cast<PRIVATE_NETWORKKEY*>(n.net->network);
  const int socket = key->networkSpecific.TCP.listenSocket;
  ::fcntl(socket, F_SETFL, ::fcntl(socket, F_GETFL) | O_NONBLOCK);
}

}  // namespace

void run_storage_scp(const StorageScpOptions& options, Spool& spool, const std::function<bool()>& should_stop) {
  dicom::initialise();  // DCMTK's log: silent unless REPUX_DICOM_LOG is set (association details)
  if (options.tls.enabled()) check_dicom_tls(options.tls);
  PeerCounter counter(options.max_associations_per_peer);
  Network network;
  open_network(network, options, counter);
  std::vector<std::unique_ptr<NodeAssociation>> scps;
  for (int i = 0; i < options.max_associations; ++i) scps.push_back(std::make_unique<NodeAssociation>(options, spool, should_stop));
  std::vector<std::thread> threads;
  for (auto& scp : scps) {
    threads.emplace_back([&, s = scp.get()] {
      while (!should_stop()) {
        try {
          s->serve_next(network.net);
        } catch (const std::exception& e) {  // one association's trouble (a spool folder gone): logged, not fatal
          log_event({{"event", "association_error"}, {"error", first_line(e.what())}});
        }
      }
    });
  }
  for (auto& t : threads) t.join();
}

}  // namespace repux
