#pragma once
// A DICOMweb client (PS3.18): QIDO-RS search for series, WADO-RS retrieval of a series streamed to
// disk instance by instance (multipart/related; type="application/dicom", never a whole series in
// memory), STOW-RS of result instances into their study. Every UID taken from an answer is checked
// (digits and dots, at most 64 characters) before it is put into a URL or a folder name.
#include "repux/net/http_client.h"

#include <string>
#include <utility>
#include <vector>

namespace repux {

struct DicomwebSeries {
  std::string study_uid, series_uid, modality;
  long instances = -1;  // NumberOfSeriesRelatedInstances when the archive says; -1: not said
};

// "Modality=CT,StudyDate=20260101-" -> {{"Modality", "CT"}, {"StudyDate", "20260101-"}}; an error
// naming the item that is not KEY=VALUE.
std::vector<std::pair<std::string, std::string>> parse_dicomweb_query(const std::string& text);

// An error naming `what` unless `uid` is a DICOM UID (1 to 64 characters of digits and dots).
void check_dicom_uid(const std::string& uid, const std::string& what);

class DicomwebClient {
 public:
  // `base_url`: the DICOMweb root (e.g. http://127.0.0.1:8042/dicom-web).
  DicomwebClient(std::string base_url, HttpOptions options);
  // QIDO-RS: the series of `study` (empty: of any study) that match `query`.
  std::vector<DicomwebSeries> search_series(const std::string& study, const std::vector<std::pair<std::string, std::string>>& query) const;
  // WADO-RS: every instance of the series into `folder` (which must not exist), one file per part.
  // The instances go to FOLDER.partial first and the folder appears only when the closing boundary
  // was read; on any error nothing is left. Returns the number of instances.
  size_t retrieve_series(const DicomwebSeries& series, const std::string& folder) const;
  // STOW-RS: the files into their study; an error unless the archive stored every one.
  void store(const std::string& study_uid, const std::vector<std::string>& files) const;
  const std::string& url() const { return base_; }

 private:
  std::string base_;
  HttpClient http_;
};

}  // namespace repux
