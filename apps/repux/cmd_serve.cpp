// `repux serve`: a DICOM node. It receives CT/MR series by C-STORE into a spool (several senders at
// once, optionally over DICOM TLS), decides a series is complete when nothing arrived for --quiet
// seconds and no association delivering to it is open, segments it with the model routed by modality,
// and queues the DICOM SEG for --forward-to, which gets it by C-STORE, retried with back-off until
// delivered. `repux pacs-segment`: the pull mode, C-GET a study from a PACS, segment each CT/MR series,
// store the SEGs back. One JSON line per event on stdout (net/event_log.h).
#include "commands.h"
#include "options.h"

#include "repux/error.h"
#include "repux/infer/model_routes.h"
#include "repux/infer/predictor.h"
#include "repux/io/dicom_series.h"
#include "repux/io/volume_file.h"
#include "repux/net/delivery_queue.h"
#include "repux/net/dicomweb.h"
#include "repux/net/dicomweb_poll_state.h"
#include "repux/net/dicom_peer.h"
#include "repux/net/event_log.h"
#include "repux/net/storage_scp.h"

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <exception>
#include <unistd.h>
#include <filesystem>
#include <thread>

namespace fs = std::filesystem;

namespace repux::cli {
namespace {

std::atomic<bool> stop_requested{false};
extern "C" void request_stop(int) { stop_requested = true; }

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// What the node sends for each series: a SEG, an RTSTRUCT, or both.
enum class NodeObjects { Seg, Rtstruct, Both };

}  // namespace
}  // namespace repux::cli

template <>
struct repux::EnumNames<repux::cli::NodeObjects> {
  static constexpr const char* what = "objects to send";
  static constexpr std::pair<repux::cli::NodeObjects, const char*> table[] = {
      {repux::cli::NodeObjects::Seg, "seg"}, {repux::cli::NodeObjects::Rtstruct, "rtstruct"}, {repux::cli::NodeObjects::Both, "both"}};
};

namespace repux::cli {
namespace {

// What both commands need to segment a series: models, how to read, predict and write.
struct SegmentingArgs {
  NodeObjects objects = NodeObjects::Seg;
  std::vector<std::string> models;
  InferenceArgs inference;
  std::string device = "cpu";
  Precision precision = Precision::Float32;
  VolumeReadOptions reading;
  VolumeWriteOptions writing;
};

void bind_segmenting(CLI::App* cmd, SegmentingArgs& a) {
  cmd->add_option("-m,--model", a.models, "Model file, or MODALITY=FILE (e.g. MR=brain.repux) to route by modality")->required();
  cmd->add_option("--device", a.device, "cpu or cuda")->capture_default_str();
  add_enum_option(cmd, "--precision", a.precision, "Autocast precision");
  bind_inference_overrides(cmd, a.inference);
  bind_gantry_tilt(cmd, a.reading.gantry_tilt);
  cmd->add_option("--segment-codes", a.writing.segment_codes_file, "JSON mapping class names to segment codes");
  add_enum_option(cmd, "--format", a.objects, "What is sent for each series: a DICOM SEG, an RTSTRUCT (radiotherapy), or both");
}

struct SegmentedSeries {
  DicomSeriesDetails details;
  std::vector<std::pair<std::string, std::string>> files;  // (file, its key: the series' UID, + ".rtstruct" for an RTSTRUCT)
  std::vector<std::string> paths() const {
    std::vector<std::string> out;
    for (const auto& f : files) out.push_back(f.first);
    return out;
  }
};

// The series the node and the pulls segment: CT and MR (a SEG, a report or a scout is left alone).
bool segmentable(const std::string& modality) { return modality == "CT" || modality == "MR"; }

// --query's KEY=VALUE items; none when not given.
std::vector<std::pair<std::string, std::string>> query_items(const std::string& text) {
  return text.empty() ? std::vector<std::pair<std::string, std::string>>{} : parse_dicomweb_query(text);
}

// Segments series (a folder, one series of it) into SEG and/or RTSTRUCT files with the model their
// modality routes to.
class SeriesSegmenter {
 public:
  explicit SeriesSegmenter(const SegmentingArgs& a) : args_(a), models_(a.models, device_from_name(a.device, "--device")) {
    options_.overrides = resolve_overrides(a.inference);
    options_.compute_device = device_from_name(a.device, "--device");
    options_.precision = a.precision;
  }
  // Files named PREFIXseg.dcm and PREFIXrtstruct.dcm. `uid_key`: see VolumeWriteOptions (empty: new UIDs).
  SegmentedSeries segment(const std::string& folder, const std::string& series_uid, const std::string& prefix, const std::string& uid_key = "") {
    VolumeReadOptions reading = args_.reading;
    reading.dicom_series = series_uid;
    const Volume image = read_volume(folder, reading);
    SegmentedSeries out{*dicom_series_details(image), {}};
    const Prediction p = predict_volume(models_.for_modality(out.details.modality), image, options_);
    VolumeWriteOptions writing = args_.writing;
    writing.seg_uid_key = uid_key;
    if (args_.objects != NodeObjects::Rtstruct) {
      write_volume(p.labels, prefix + "seg.dcm", writing);
      out.files.push_back({prefix + "seg.dcm", series_uid});
    }
    if (args_.objects != NodeObjects::Seg) {
      writing.dicom_object = DicomObject::Rtstruct;
      write_volume(p.labels, prefix + "rtstruct.dcm", writing);
      out.files.push_back({prefix + "rtstruct.dcm", series_uid + ".rtstruct"});
    }
    return out;
  }

 private:
  SegmentingArgs args_;
  ModelRoutes models_;
  PredictOptions options_;
};

struct ServeArgs {
  SegmentingArgs segmenting;
  StorageScpOptions scp;
  std::vector<std::string> allow;
  std::string spool, forward_to;
  bool forward_tls = false;
  int quiet_seconds = 10, resend_wait_seconds = 600, retry_seconds = 10, max_retry_seconds = 600;
  double spool_limit_gb = 20, give_up_hours = 24;
  // --dicomweb-poll: a DICOMweb archive polled instead of DIMSE listening
  std::string dicomweb_poll, query, auth_file;
  int every_seconds = 60;
};

// Waits `seconds`, or less when a stop is requested.
void wait_unless_stopped(int seconds) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (!stop_requested && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(100));
}

// One ready series of a poll: retrieved, segmented, stored back. A network failure leaves it for the
// next poll; a series that cannot be segmented is recorded as failed and not tried again.
void segment_polled_series(const ServeArgs& a, const DicomwebClient& client, SeriesSegmenter& segmenter, DicomwebPollState& state,
                           const DicomwebSeries& s) {
  const fs::path folder = fs::path(a.spool) / "dicomweb" / s.series_uid;
  fs::remove_all(folder);
  const auto t0 = std::chrono::steady_clock::now();
  try {
    const size_t files = client.retrieve_series(s, folder.string());
    log_event({{"event", "series_received"}, {"series", s.series_uid}, {"study", s.study_uid}, {"files", files}});
  } catch (const std::exception& e) {
    log_event({{"event", "retrieve_failed"}, {"series", s.series_uid}, {"error", first_line(e.what())}, {"retry_in_seconds", a.every_seconds}});
    return;
  }
  SegmentedSeries done;
  try {
    // UIDs derived from the source series: a series done again (after a crash before the state was
    // saved) replaces its SEG in the archive instead of adding a second.
    done = segmenter.segment(folder.string(), s.series_uid, (folder.string() + "_"), a.scp.ae_title + ":" + s.series_uid);
  } catch (const std::exception& e) {
    log_event({{"event", "failed"}, {"series", s.series_uid}, {"error", first_line(e.what())}});
    state.failed(s.series_uid, first_line(e.what()));
    fs::remove_all(folder);
    return;
  }
  try {
    client.store(s.study_uid, done.paths());
    state.done(s.series_uid);
    log_event({{"event", "seg_sent"}, {"series", s.series_uid}, {"study", s.study_uid}, {"destination", client.url()}, {"seconds", seconds_since(t0)}});
  } catch (const std::exception& e) {
    log_event({{"event", "delivery_failed"}, {"series", s.series_uid}, {"error", first_line(e.what())}, {"retry_in_seconds", a.every_seconds}});
  }
  for (const auto& f : done.files) fs::remove(f.first);
  fs::remove_all(folder);
}

// `serve --dicomweb-poll URL`: QIDO every --every seconds for CT/MR series matching --query, each
// segmented once when complete and its results stored back by STOW-RS; the state in the spool.
void run_dicomweb_poll(const ServeArgs& a) {
  HttpOptions http;
  http.auth = read_http_auth(a.auth_file, "REPUX_DICOMWEB_AUTH");
  http.ca_file = a.scp.tls.ca;
  http.client_certificate = a.scp.tls.certificate;
  http.client_key = a.scp.tls.private_key;
  const DicomwebClient client(a.dicomweb_poll, http);
  const auto query = query_items(a.query);
  fs::create_directories(fs::path(a.spool) / "dicomweb");
  DicomwebPollState state((fs::path(a.spool) / "dicomweb-state.json").string());
  SeriesSegmenter segmenter(a.segmenting);
  std::signal(SIGTERM, request_stop);
  std::signal(SIGINT, request_stop);
  log_event({{"event", "polling"}, {"url", client.url()}, {"every_seconds", a.every_seconds}, {"done_before", state.done_count()}});
  while (!stop_requested) {
    std::vector<DicomwebSeries> found;
    try {
      for (const auto& s : client.search_series("", query)) {
        if (segmentable(s.modality)) found.push_back(s);
      }
    } catch (const std::exception& e) {
      log_event({{"event", "poll_failed"}, {"error", first_line(e.what())}, {"retry_in_seconds", a.every_seconds}});
    }
    const auto ready = state.ready(found);
    log_event({{"event", "polled"}, {"series", found.size()}, {"ready", ready.size()}});
    for (const auto& s : ready) {
      if (stop_requested) break;
      segment_polled_series(a, client, segmenter, state, s);
    }
    wait_unless_stopped(a.every_seconds);
  }
  log_event({{"event", "stopped"}, {"done", state.done_count()}});
}

// Segments the series of the spool that are complete, one at a time, until a stop is requested, and
// queues their SEGs. It runs beside the SCP, so that senders are answered while a series is segmented
// (a PACS gives up on an unanswered association within seconds: Orthanc after 10 by default).
void segment_complete_series(const ServeArgs& a, Spool& spool, SeriesSegmenter& segmenter, DeliveryQueue& queue) {
  while (!stop_requested) {
    for (const auto& s : spool.take_quiet_series(std::chrono::seconds(a.quiet_seconds))) {
      log_event({{"event", "series_received"}, {"series", s.uid}, {"files", s.files}, {"received_in_parts", s.received_in_parts}});
      if (stop_requested) break;  // left in work/: the next start takes it up again
      const auto t0 = std::chrono::steady_clock::now();
      try {
        // The same source series always gives the same UIDs: a resent series replaces its SEG (RTSTRUCT).
        const SegmentedSeries done = segmenter.segment(s.folder, s.uid, (fs::path(s.folder) / "repux_").string(), a.scp.ae_title + ":" + s.uid);
        for (const auto& [file, key] : done.files) queue.add(file, key);
        spool.finish(s.folder);
        const DicomSeriesDetails& d = done.details;
        log_event({{"event", "segmented"}, {"series", s.uid}, {"study", d.study_uid}, {"slices", d.sop_instance_uids.size()},
                   {"seconds", seconds_since(t0)}});
      } catch (const std::exception& e) {
        log_event({{"event", "failed"}, {"series", s.uid}, {"error", first_line(e.what())}});
        spool.set_aside(s.folder, first_line(e.what()));
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

// Delivers the queued SEGs to the destination, each attempt logged, until a stop is requested.
void deliver_queued_segs(const ServeArgs& a, DeliveryQueue& queue, const DicomPeer& destination) {
  const DicomTls tls = a.forward_tls ? a.scp.tls : DicomTls{};
  while (!stop_requested) {
    for (const auto& r : queue.deliver_due([&](const std::string& file) { store_files(destination, a.scp.ae_title, {file}, tls); })) {
      if (r.error.empty()) {
        log_event({{"event", "seg_sent"}, {"series", r.key}, {"destination", a.forward_to}, {"attempt", r.attempt}, {"seconds", r.seconds}});
      } else if (r.given_up) {
        log_event({{"event", "delivery_given_up"}, {"series", r.key}, {"attempt", r.attempt}, {"error", r.error}});
      } else {
        log_event({{"event", "delivery_failed"}, {"series", r.key}, {"attempt", r.attempt}, {"error", r.error}, {"retry_in_seconds", r.next_in_seconds}});
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

// Runs `work` on a thread; an error that escapes it stops the node and is kept for the main thread
// to report as any other error: never an exception leaving a thread.
std::thread worker_thread(std::exception_ptr& error, std::function<void()> work) {
  return std::thread([&error, work] {
    try {
      work();
    } catch (...) {
      error = std::current_exception();
      stop_requested = true;
    }
  });
}

SpoolOptions spool_options(const ServeArgs& a) {
  return {static_cast<uint64_t>(a.spool_limit_gb * (1ull << 30)), std::chrono::seconds(a.resend_wait_seconds)};
}

RetryPolicy retry_policy(const ServeArgs& a) {
  return {std::chrono::seconds(a.retry_seconds), std::chrono::seconds(std::max(a.retry_seconds, a.max_retry_seconds)),
          std::chrono::seconds(static_cast<int64_t>(a.give_up_hours * 3600))};
}

void run_serve(ServeArgs a) {
  if (!a.dicomweb_poll.empty()) {
    if (!a.allow.empty() || !a.forward_to.empty()) fail("--dicomweb-poll replaces listening: drop --allow and --forward-to");
    return run_dicomweb_poll(a);
  }
  if (a.allow.empty() || a.forward_to.empty()) fail("a DICOM node needs --allow and --forward-to (or --dicomweb-poll URL to poll an archive)");
  const DicomPeer destination = parse_dicom_peer(a.forward_to);
  a.scp.allowed_peers = parse_allowed_peers(a.allow);
  if (a.scp.allowed_peers.empty()) fail("--allow names no peer: a node accepts only configured AE titles");
  check_dicom_tls(a.scp.tls);
  if (a.forward_tls && !a.scp.tls.enabled()) fail("--forward-tls needs --tls-cert, --tls-key and --tls-ca");
  Spool spool(a.spool, spool_options(a));  // first: a second node on this spool stops here
  DeliveryQueue queue((fs::path(a.spool) / "outgoing").string(), (fs::path(a.spool) / "failed").string(), retry_policy(a));
  SeriesSegmenter segmenter(a.segmenting);
  std::signal(SIGTERM, request_stop);
  std::signal(SIGINT, request_stop);
  log_event({{"event", "listening"}, {"ae_title", a.scp.ae_title}, {"port", a.scp.port}, {"spool", a.spool}, {"tls", a.scp.tls.enabled()},
             {"waiting_segs", queue.waiting()}});
  std::exception_ptr segment_error, deliver_error;
  std::thread segmenting = worker_thread(segment_error, [&] { segment_complete_series(a, spool, segmenter, queue); });
  std::thread delivering = worker_thread(deliver_error, [&] { deliver_queued_segs(a, queue, destination); });
  std::exception_ptr scp_error;
  try {
    run_storage_scp(a.scp, spool, [] { return stop_requested.load(); });
  } catch (...) {
    scp_error = std::current_exception();
  }
  stop_requested = true;  // the SCP stops only when asked, but be sure the workers do too
  segmenting.join();      // after SIGTERM: the series being segmented is finished and queued
  delivering.join();
  for (const auto& e : {scp_error, segment_error, deliver_error}) {
    if (e) std::rethrow_exception(e);
  }
  log_event({{"event", "stopped"}, {"waiting_segs", queue.waiting()}});
}

struct PullArgs {
  SegmentingArgs segmenting;
  std::string pacs, study, ae_title = "REPUX", work;
  // DICOMweb
  std::string dicomweb, series, query, auth_file;
  HttpOptions http;
};

// The series a DICOMweb pull segments: --series, or those --study and --query find (CT and MR only).
std::vector<DicomwebSeries> series_to_pull(const PullArgs& a, const DicomwebClient& client) {
  auto query = query_items(a.query);
  if (!a.series.empty()) {
    check_dicom_uid(a.series, "--series");
    query.emplace_back("SeriesInstanceUID", a.series);
  }
  std::vector<DicomwebSeries> wanted;
  for (const auto& s : client.search_series(a.study, query)) {
    if (segmentable(s.modality)) wanted.push_back(s);
  }
  if (wanted.empty()) fail("{}: no CT or MR series matches (--study, --series, --query)", client.url());
  return wanted;
}

// Pull over DICOMweb: QIDO-RS finds the series, WADO-RS retrieves each to disk, the SEG (RTSTRUCT)
// goes back into its study by STOW-RS. One JSON line per event, as `serve` prints them.
void run_dicomweb_segment(PullArgs a) {
  a.http.auth = read_http_auth(a.auth_file, "REPUX_DICOMWEB_AUTH");
  const DicomwebClient client(a.dicomweb, a.http);
  SeriesSegmenter segmenter(a.segmenting);
  const fs::path work = a.work.empty() ? fs::temp_directory_path() / fmt::format("repux-dicomweb-{}", ::getpid()) : fs::path(a.work);
  fs::remove_all(work);
  std::vector<std::string> failed;
  const auto found = series_to_pull(a, client);
  log_event({{"event", "series_found"}, {"series", found.size()}, {"url", client.url()}});
  for (const auto& s : found) {
    const auto t0 = std::chrono::steady_clock::now();
    try {
      const std::string folder = (work / s.series_uid).string();
      const size_t files = client.retrieve_series(s, folder);
      log_event({{"event", "series_received"}, {"series", s.series_uid}, {"study", s.study_uid}, {"files", files}, {"seconds", seconds_since(t0)}});
      const SegmentedSeries done = segmenter.segment(folder, s.series_uid, (work / (s.series_uid + "_")).string());
      client.store(s.study_uid, done.paths());
      log_event({{"event", "seg_sent"}, {"series", s.series_uid}, {"study", s.study_uid}, {"destination", client.url()}, {"seconds", seconds_since(t0)}});
    } catch (const std::exception& e) {
      failed.push_back(s.series_uid);
      log_event({{"event", "failed"}, {"series", s.series_uid}, {"error", first_line(e.what())}});
    }
  }
  if (a.work.empty()) fs::remove_all(work);
  if (!failed.empty()) fail("{} of {} series failed: {}", failed.size(), found.size(), failed.front());
}

void run_pacs_segment(const PullArgs& a) {
  if (a.pacs.empty() == a.dicomweb.empty()) fail("give the archive as --pacs AET@host:port (DIMSE) or --dicomweb URL, one of them");
  if (!a.dicomweb.empty()) return run_dicomweb_segment(a);
  if (a.study.empty()) fail("--pacs needs --study UID");
  const DicomPeer pacs = parse_dicom_peer(a.pacs);
  SeriesSegmenter segmenter(a.segmenting);
  const fs::path work = a.work.empty() ? fs::temp_directory_path() / fmt::format("repux-pull-{}", ::getpid()) : fs::path(a.work);
  fs::remove_all(work);
  const auto t0 = std::chrono::steady_clock::now();
  const size_t files = get_study(pacs, a.ae_title, a.study, (work / "study").string());
  log_event({{"event", "study_received"}, {"study", a.study}, {"files", files}, {"seconds", seconds_since(t0)}});
  std::vector<std::string> failed;
  for (const auto& s : list_dicom_series((work / "study").string())) {
    if (!segmentable(s.modality)) continue;
    const auto t1 = std::chrono::steady_clock::now();
    try {
      const SegmentedSeries done = segmenter.segment((work / "study").string(), s.uid, (work / (s.uid + "_")).string());
      store_files(pacs, a.ae_title, done.paths());
      log_event({{"event", "seg_sent"}, {"series", s.uid}, {"destination", a.pacs}, {"seconds", seconds_since(t1)}});
    } catch (const std::exception& e) {
      failed.push_back(s.uid);
      log_event({{"event", "failed"}, {"series", s.uid}, {"error", first_line(e.what())}});
    }
  }
  if (a.work.empty()) fs::remove_all(work);
  if (!failed.empty()) fail("{} series of study {} failed: {}", failed.size(), a.study, failed.front());
}

}  // namespace

void add_serve_commands(CLI::App& app) {
  auto sa = std::make_shared<ServeArgs>();
  auto* s = app.add_subcommand("serve", "A DICOM node: receive CT/MR series (C-STORE), segment them, send the DICOM SEG on (C-STORE)");
  bind_segmenting(s, sa->segmenting);
  s->add_option("--aet", sa->scp.ae_title, "This node's AE title")->capture_default_str();
  s->add_option("--port", sa->scp.port, "TCP port to listen on")->capture_default_str();
  s->add_option("--allow", sa->allow, "Peers that may store: AET@host (that title from that address) or AET (from any address); several allowed");
  s->add_option("--forward-to", sa->forward_to, "Where SEGs go: AET@host:port");
  s->add_option("--dicomweb-poll", sa->dicomweb_poll,
                "Instead of listening: poll this DICOMweb archive (QIDO-RS) for CT/MR series, segment each once, store the results back "
                "(STOW-RS); --tls-* then mean HTTPS");
  s->add_option("--every", sa->every_seconds, "--dicomweb-poll: seconds between polls")->check(CLI::Range(1, 86400))->capture_default_str();
  s->add_option("--query", sa->query, "--dicomweb-poll: a QIDO-RS filter, KEY=VALUE items separated by commas (e.g. Modality=CT)");
  s->add_option("--auth-file", sa->auth_file, "--dicomweb-poll: 'user:password' or 'Bearer TOKEN' (default: REPUX_DICOMWEB_AUTH)");
  s->add_option("--spool", sa->spool, "Spool folder (received series wait here; survives restarts)")->required();
  s->add_option("--quiet", sa->quiet_seconds, "A series is complete after this many seconds without a new instance")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  s->add_option("--spool-limit-gb", sa->spool_limit_gb, "Refuse new associations while the spool holds more")
      ->check(CLI::Range(0.001, 1e6))
      ->capture_default_str();
  s->add_option("--resend-wait", sa->resend_wait_seconds,
                 "A series whose delivery was interrupted (the sender or the node stopped mid-way) waits this many seconds for "
                 "its resend before it is segmented as received")
      ->check(CLI::Range(1, 7 * 86400))
      ->capture_default_str();
  s->add_option("--retry-interval", sa->retry_seconds, "First wait before a SEG that could not be sent is tried again (doubled each time)")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  s->add_option("--retry-max-interval", sa->max_retry_seconds, "Longest wait between two attempts to send a SEG")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  s->add_option("--give-up-hours", sa->give_up_hours, "A SEG not delivered after this long goes to SPOOL/failed/ with the reason")
      ->check(CLI::Range(0.001, 24.0 * 365))
      ->capture_default_str();
  s->add_option("--max-associations", sa->scp.max_associations, "Associations served at once")->check(CLI::Range(1, 512))->capture_default_str();
  s->add_option("--max-associations-per-peer", sa->scp.max_associations_per_peer, "Connections one peer address may hold at once")
      ->check(CLI::Range(1, 512))
      ->capture_default_str();
  s->add_option("--acse-timeout", sa->scp.acse_timeout, "Seconds a peer may take to negotiate an association")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  s->add_option("--dimse-timeout", sa->scp.dimse_timeout, "Seconds a peer may stay silent within an association")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  s->add_option("--tls-cert", sa->scp.tls.certificate, "DICOM TLS: this node's certificate (PEM)");
  s->add_option("--tls-key", sa->scp.tls.private_key, "DICOM TLS: this node's private key (PEM, unencrypted)");
  s->add_option("--tls-ca", sa->scp.tls.ca, "DICOM TLS: the CA certificate (PEM) peers' certificates must be signed by");
  s->add_flag("--tls-require-peer-cert", sa->scp.tls.require_peer_certificate, "DICOM TLS: refuse peers that present no certificate");
  s->add_flag("--forward-tls", sa->forward_tls, "Send SEGs to --forward-to over DICOM TLS (the same certificate, key and CA)");
  s->callback([sa] { run_serve(*sa); });

  auto pa = std::make_shared<PullArgs>();
  auto* p = app.add_subcommand("pacs-segment",
                               "Retrieve a study from a PACS (C-GET) or a DICOMweb archive (QIDO-RS, WADO-RS), segment its CT/MR series, "
                               "store the SEGs back (C-STORE, STOW-RS)");
  bind_segmenting(p, pa->segmenting);
  p->add_option("--pacs", pa->pacs, "The PACS: AET@host:port (DIMSE: C-GET, C-STORE)");
  p->add_option("--dicomweb", pa->dicomweb, "Or a DICOMweb archive's root URL (QIDO-RS, WADO-RS, STOW-RS), e.g. http://127.0.0.1:8042/dicom-web");
  p->add_option("--study", pa->study, "StudyInstanceUID (DICOMweb: optional with --query)");
  p->add_option("--series", pa->series, "DICOMweb: only this SeriesInstanceUID");
  p->add_option("--query", pa->query, "DICOMweb: a QIDO-RS search, KEY=VALUE items separated by commas (e.g. Modality=CT,StudyDate=20260101-)");
  p->add_option("--auth-file", pa->auth_file,
                "DICOMweb: a file holding 'user:password' (HTTP basic) or 'Bearer TOKEN' (default: the environment variable "
                "REPUX_DICOMWEB_AUTH; never on the command line)");
  p->add_option("--tls-ca", pa->http.ca_file, "DICOMweb over https: the CA certificate(s) (PEM) to trust instead of the system's");
  p->add_option("--tls-cert", pa->http.client_certificate, "DICOMweb over https: a client certificate (PEM)");
  p->add_option("--tls-key", pa->http.client_key, "DICOMweb over https: the client certificate's key (PEM)");
  p->add_option("--retries", pa->http.retries, "DICOMweb: further attempts of a request that failed for a reason a retry can help (503, no connection)")
      ->check(CLI::Range(0, 20))
      ->capture_default_str();
  p->add_option("--retry-wait", pa->http.first_retry_seconds, "DICOMweb: seconds before the first retry (doubled each time, at most 30)")
      ->check(CLI::Range(0.0, 30.0))
      ->capture_default_str();
  p->add_option("--aet", pa->ae_title, "This program's AE title")->capture_default_str();
  p->add_option("--work", pa->work, "Folder for the retrieved study (default: a temporary one, removed)");
  p->callback([pa] { run_pacs_segment(*pa); });
}

}  // namespace repux::cli
