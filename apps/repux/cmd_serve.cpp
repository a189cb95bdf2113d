// `repux serve`: a DICOM node. It receives CT/MR series by C-STORE into a spool, decides a series is
// complete when nothing arrived for --quiet seconds, segments it with the model routed by modality, and
// sends the DICOM SEG to --forward-to by C-STORE. `repux pacs-segment`: the pull mode, C-GET a study
// from a PACS, segment each CT/MR series, store the SEGs back. One JSON line per event on stdout.
#include "commands.h"
#include "options.h"

#include "repux/error.h"
#include "repux/infer/predictor.h"
#include "repux/io/dicom_series.h"
#include "repux/io/volume_file.h"
#include "repux/net/dicom_peer.h"
#include "repux/net/storage_scp.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <exception>
#include <unistd.h>
#include <filesystem>
#include <map>
#include <thread>

namespace fs = std::filesystem;

namespace repux::cli {
namespace {

std::atomic<bool> stop_requested{false};
extern "C" void request_stop(int) { stop_requested = true; }

void log_event(nlohmann::json event) {
  event["time"] = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  fmt::print("{}\n", event.dump());
  std::fflush(stdout);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Models by modality ("CT=ct.repux"); an unkeyed one serves every modality without its own.
class ModelRoutes {
 public:
  explicit ModelRoutes(const std::vector<std::string>& specs) {
    for (const auto& spec : specs) {
      const auto eq = spec.find('=');
      const std::string key = eq == std::string::npos ? "" : spec.substr(0, eq);
      models_.emplace(key, load_model(eq == std::string::npos ? spec : spec.substr(eq + 1)));
    }
  }
  LoadedModel& for_modality(const std::string& modality) {
    auto it = models_.find(modality);
    if (it == models_.end()) it = models_.find("");
    if (it == models_.end()) fail("no model serves modality {} (give -m {}=MODEL or an unkeyed -m)", modality, modality);
    return it->second;
  }

 private:
  std::map<std::string, LoadedModel> models_;
};

// What both commands need to segment a series: models, how to read, predict and write.
struct SegmentingArgs {
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
}

// Segments series (a folder, one series of it) into SEG files with the model their modality routes to.
class SeriesSegmenter {
 public:
  explicit SeriesSegmenter(const SegmentingArgs& a) : args_(a), models_(a.models) {
    options_.overrides = resolve_overrides(a.inference);
    options_.compute_device = torch::Device(a.device);
    options_.precision = a.precision;
  }
  DicomSeriesDetails segment(const std::string& folder, const std::string& series_uid, const std::string& seg_path) {
    VolumeReadOptions reading = args_.reading;
    reading.dicom_series = series_uid;
    const Volume image = read_volume(folder, reading);
    const DicomSeriesDetails details = *dicom_series_details(image);
    const Prediction p = predict_volume(models_.for_modality(details.modality), image, options_);
    write_volume(p.labels, seg_path, args_.writing);
    return details;
  }

 private:
  SegmentingArgs args_;
  ModelRoutes models_;
  PredictOptions options_;
};

struct ServeArgs {
  SegmentingArgs segmenting;
  StorageScpOptions scp;
  std::string spool, forward_to;
  int quiet_seconds = 10;
  double spool_limit_gb = 20;
};

// Segments the series of the spool that have gone quiet, one at a time, until a stop is requested.
// It runs beside the SCP, so that senders are answered while a series is segmented (a PACS gives up
// on an unanswered association within seconds: Orthanc after 10 by default).
void segment_quiet_series(const ServeArgs& a, Spool& spool, SeriesSegmenter& segmenter, const DicomPeer& destination) {
  while (!stop_requested) {
    for (const auto& work : spool.take_quiet_series(std::chrono::seconds(a.quiet_seconds))) {
      const std::string uid = fs::path(work).filename().string();
      size_t files = 0;
      for (const auto& e : fs::directory_iterator(work)) files += e.is_regular_file() ? 1 : 0;
      log_event({{"event", "series_received"}, {"series", uid}, {"files", files}});
      if (stop_requested) break;  // left in work/: the next start takes it up again
      const auto t0 = std::chrono::steady_clock::now();
      try {
        const std::string seg = (fs::path(work) / "repux_seg.dcm").string();
        const DicomSeriesDetails d = segmenter.segment(work, uid, seg);
        const double segmented = seconds_since(t0);
        log_event({{"event", "segmented"}, {"series", uid}, {"study", d.study_uid}, {"slices", d.sop_instance_uids.size()}, {"seconds", segmented}});
        store_files(destination, a.scp.ae_title, {seg});
        log_event({{"event", "seg_sent"}, {"series", uid}, {"study", d.study_uid}, {"destination", a.forward_to},
                   {"seconds", seconds_since(t0) - segmented}, {"total_seconds", seconds_since(t0)}});
        spool.finish(work);
      } catch (const std::exception& e) {
        log_event({{"event", "failed"}, {"series", uid}, {"error", first_line(e.what())}});
        spool.set_aside(work);
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

void run_serve(const ServeArgs& a) {
  const DicomPeer destination = parse_dicom_peer(a.forward_to);
  if (a.scp.allowed_peers.empty()) fail("--allow names no peer: a node accepts only configured AE titles");
  SeriesSegmenter segmenter(a.segmenting);
  Spool spool(a.spool, static_cast<uint64_t>(a.spool_limit_gb * (1ull << 30)));
  std::signal(SIGTERM, request_stop);
  std::signal(SIGINT, request_stop);
  log_event({{"event", "listening"}, {"ae_title", a.scp.ae_title}, {"port", a.scp.port}, {"spool", a.spool}});
  // An error that escapes the worker (the spool's folders unwritable, say) stops the node and is
  // reported here, on the main thread, as any other error: never an exception leaving a thread.
  std::exception_ptr worker_error;
  std::thread worker([&] {
    try {
      segment_quiet_series(a, spool, segmenter, destination);
    } catch (...) {
      worker_error = std::current_exception();
      stop_requested = true;
    }
  });
  try {
    run_storage_scp(a.scp, spool, [] { return stop_requested.load(); });
  } catch (...) {
    stop_requested = true;
    worker.join();
    throw;
  }
  stop_requested = true;  // the SCP stops only when asked, but be sure the worker does too
  worker.join();          // after SIGTERM: the series being segmented is finished and sent
  if (worker_error) std::rethrow_exception(worker_error);
  log_event({{"event", "stopped"}});
}

struct PullArgs {
  SegmentingArgs segmenting;
  std::string pacs, study, ae_title = "REPUX", work;
};

void run_pacs_segment(const PullArgs& a) {
  const DicomPeer pacs = parse_dicom_peer(a.pacs);
  SeriesSegmenter segmenter(a.segmenting);
  const fs::path work = a.work.empty() ? fs::temp_directory_path() / fmt::format("repux-pull-{}", ::getpid()) : fs::path(a.work);
  fs::remove_all(work);
  const auto t0 = std::chrono::steady_clock::now();
  const size_t files = get_study(pacs, a.ae_title, a.study, (work / "study").string());
  log_event({{"event", "study_received"}, {"study", a.study}, {"files", files}, {"seconds", seconds_since(t0)}});
  std::vector<std::string> failed;
  for (const auto& s : list_dicom_series((work / "study").string())) {
    if (s.modality != "CT" && s.modality != "MR") continue;
    const auto t1 = std::chrono::steady_clock::now();
    try {
      const std::string seg = (work / (s.uid + ".dcm")).string();
      segmenter.segment((work / "study").string(), s.uid, seg);
      store_files(pacs, a.ae_title, {seg});
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
  s->add_option("--allow", sa->scp.allowed_peers, "Peers that may store: AET or AET@host (several allowed)")->required();
  s->add_option("--forward-to", sa->forward_to, "Where SEGs go: AET@host:port")->required();
  s->add_option("--spool", sa->spool, "Spool folder (received series wait here; survives restarts)")->required();
  s->add_option("--quiet", sa->quiet_seconds, "A series is complete after this many seconds without a new instance")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  s->add_option("--spool-limit-gb", sa->spool_limit_gb, "Refuse new associations while the spool holds more")
      ->check(CLI::Range(0.001, 1e6))
      ->capture_default_str();
  s->callback([sa] { run_serve(*sa); });

  auto pa = std::make_shared<PullArgs>();
  auto* p = app.add_subcommand("pacs-segment", "Retrieve a study from a PACS (C-GET), segment its CT/MR series, store the SEGs back");
  bind_segmenting(p, pa->segmenting);
  p->add_option("--pacs", pa->pacs, "The PACS: AET@host:port")->required();
  p->add_option("--study", pa->study, "StudyInstanceUID")->required();
  p->add_option("--aet", pa->ae_title, "This program's AE title")->capture_default_str();
  p->add_option("--work", pa->work, "Folder for the retrieved study (default: a temporary one, removed)");
  p->callback([pa] { run_pacs_segment(*pa); });
}

}  // namespace repux::cli
