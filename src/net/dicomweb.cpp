#include "repux/net/dicomweb.h"

#include "repux/error.h"
#include "repux/io/multipart.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace fs = std::filesystem;

namespace repux {
namespace {

// The first value of attribute `tag` (8 hex digits) of a DICOM JSON object, or "".
std::string first_value(const nlohmann::json& object, const char* tag) {
  const auto it = object.find(tag);
  if (it == object.end() || !it->is_object()) return "";
  const auto values = it->find("Value");
  if (values == it->end() || !values->is_array() || values->empty()) return "";
  const auto& v = (*values)[0];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<long>());
  return "";
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot read", path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string random_boundary() {
  std::random_device rd;
  return fmt::format("repux-{:016x}{:08x}", (static_cast<uint64_t>(rd()) << 32) | rd(), rd());
}

// The parts of a WADO-RS answer, each written to its own file in `folder`.
class PartFiles {
 public:
  explicit PartFiles(fs::path folder) : folder_(std::move(folder)) {}
  void begin(const std::map<std::string, std::string>& headers, const std::string& url) {
    const auto type = headers.find("content-type");
    if (type != headers.end() && type->second.rfind("application/dicom", 0) != 0) {
      fail("{}: a part of type '{}', expected application/dicom", url, type->second);
    }
    const fs::path path = folder_ / fmt::format("{:06d}.dcm", ++count_);
    out_.open(path, std::ios::binary | std::ios::trunc);
    if (!out_) fail("{}: cannot write", path.string());
  }
  void write(const char* data, size_t size) {
    out_.write(data, static_cast<std::streamsize>(size));
    if (!out_) fail("{}: write failed (disk full?)", folder_.string());
  }
  void end() {
    out_.close();
    if (!out_) fail("{}: write failed (disk full?)", folder_.string());
  }
  size_t count() const { return count_; }

 private:
  fs::path folder_;
  std::ofstream out_;
  size_t count_ = 0;
};

}  // namespace

std::vector<std::pair<std::string, std::string>> parse_dicomweb_query(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> query;
  std::stringstream items(text);
  std::string item;
  while (std::getline(items, item, ',')) {
    const auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == item.size()) fail("--query '{}': expected KEY=VALUE items separated by commas", item);
    query.emplace_back(item.substr(0, eq), item.substr(eq + 1));
  }
  if (query.empty()) fail("--query is empty: expected KEY=VALUE items (e.g. Modality=CT,StudyDate=20260101-)");
  return query;
}

void check_dicom_uid(const std::string& uid, const std::string& what) {
  const bool ok = !uid.empty() && uid.size() <= 64 && uid.find_first_not_of("0123456789.") == std::string::npos;
  if (!ok) fail("{} '{}' is not a DICOM UID (1 to 64 digits and dots)", what, uid.substr(0, 80));
}

DicomwebClient::DicomwebClient(std::string base_url, HttpOptions options) : base_(std::move(base_url)), http_(std::move(options)) {
  while (!base_.empty() && base_.back() == '/') base_.pop_back();
  if (base_.rfind("http://", 0) != 0 && base_.rfind("https://", 0) != 0) fail("--dicomweb '{}': expected an http:// or https:// URL", base_);
}

std::vector<DicomwebSeries> DicomwebClient::search_series(const std::string& study, const std::vector<std::pair<std::string, std::string>>& query) const {
  std::string url = base_;
  if (!study.empty()) {
    check_dicom_uid(study, "--study");
    url += "/studies/" + study;
  }
  url += "/series?includefield=00201209";
  for (const auto& [key, value] : query) url += "&" + HttpClient::escape(key) + "=" + HttpClient::escape(value);
  const HttpResponse r = http_.get(url, "application/dicom+json");
  if (r.status == 204 || r.body.empty()) return {};
  nlohmann::json answer;
  try {
    answer = nlohmann::json::parse(r.body);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not a DICOM JSON answer ({})", url, first_line(e.what()));
  }
  if (!answer.is_array()) fail("{}: expected a JSON array of series", url);
  std::vector<DicomwebSeries> found;
  for (const auto& item : answer) {
    if (!item.is_object()) fail("{}: expected a JSON array of series objects", url);
    DicomwebSeries s{first_value(item, "0020000D"), first_value(item, "0020000E"), first_value(item, "00080060")};
    if (s.study_uid.empty()) s.study_uid = study;
    check_dicom_uid(s.study_uid, url + ": StudyInstanceUID");
    check_dicom_uid(s.series_uid, url + ": SeriesInstanceUID");
    const std::string n = first_value(item, "00201209");
    if (!n.empty()) s.instances = std::strtol(n.c_str(), nullptr, 10);
    found.push_back(s);
  }
  return found;
}

size_t DicomwebClient::retrieve_series(const DicomwebSeries& s, const std::string& folder) const {
  check_dicom_uid(s.study_uid, "StudyInstanceUID");
  check_dicom_uid(s.series_uid, "SeriesInstanceUID");
  if (fs::exists(folder)) fail("{}: exists already", folder);
  const fs::path partial = folder + ".partial";
  const std::string url = base_ + "/studies/" + s.study_uid + "/series/" + s.series_uid;
  std::unique_ptr<PartFiles> files;
  std::unique_ptr<MultipartReader> reader;
  const auto start = [&] {
    fs::remove_all(partial);
    fs::create_directories(partial);
    files = std::make_unique<PartFiles>(partial);
    reader.reset();
  };
  HttpSink sink;
  sink.begin = [&](const std::string& content_type) {
    PartFiles* f = files.get();
    MultipartHandlers h;
    h.begin_part = [f, url](const std::map<std::string, std::string>& headers) { f->begin(headers, url); };
    h.part_data = [f](const char* data, size_t size) { f->write(data, size); };
    h.end_part = [f] { f->end(); };
    reader = std::make_unique<MultipartReader>(multipart_boundary(content_type), std::move(h), url);
  };
  sink.data = [&](const char* data, size_t size) { reader->feed(data, size); };
  sink.restart = start;
  try {
    start();
    http_.get(url, "multipart/related; type=\"application/dicom\"; transfer-syntax=*", sink);
    if (!reader) fail("{}: an empty answer, expected a multipart body of DICOM instances", url);
    reader->finish();
    if (files->count() == 0) fail("{}: no instances in the answer", url);
    fs::rename(partial, folder);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(partial, ec);
    throw;
  }
  return files->count();
}

void DicomwebClient::store(const std::string& study_uid, const std::vector<std::string>& files) const {
  check_dicom_uid(study_uid, "StudyInstanceUID");
  const std::string boundary = random_boundary();
  std::string body;
  for (const auto& file : files) {
    body += "--" + boundary + "\r\nContent-Type: application/dicom\r\n\r\n";
    body += read_file(file);
    body += "\r\n";
  }
  body += "--" + boundary + "--\r\n";
  const std::string url = base_ + "/studies/" + study_uid;
  const HttpResponse r = http_.post(url, "multipart/related; type=\"application/dicom\"; boundary=" + boundary, body, "application/dicom+json");
  if (r.status != 200) fail("POST {}: HTTP {}: the archive did not store every instance", url, r.status);
  if (r.body.empty()) return;
  nlohmann::json answer;
  try {
    answer = nlohmann::json::parse(r.body);
  } catch (const nlohmann::json::exception&) {
    return;  // a 200 without a DICOM JSON body: stored
  }
  const auto failed = answer.find("00081198");  // FailedSOPSequence
  if (failed != answer.end() && failed->contains("Value") && !(*failed)["Value"].empty()) {
    fail("POST {}: the archive refused {} instance(s) (FailedSOPSequence)", url, (*failed)["Value"].size());
  }
}

}  // namespace repux
