#pragma once
// A streaming reader of MIME multipart bodies (RFC 2046), as DICOMweb's WADO-RS answers with
// `multipart/related; type="application/dicom"` (one DICOM instance per part) and STOW-RS is sent.
// Bytes are fed as they arrive and each part's content goes to the caller as it is found, so a whole
// study is never held in memory. Everything is bounded: the preamble, each part's headers, each part's
// size, the number of parts. A body that ends before its closing boundary is an error at finish(),
// never a short last part taken as complete.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>

namespace repux {

// The boundary of a `multipart/...; boundary=...` Content-Type (quoted or not); an error naming the
// header when it is not multipart or has no boundary.
std::string multipart_boundary(const std::string& content_type);

struct MultipartLimits {
  size_t max_preamble = 64 * 1024;       // bytes before the first boundary
  size_t max_headers = 16 * 1024;        // bytes of one part's header block
  uint64_t max_part = 4ull << 30;        // bytes of one part's content
  size_t max_parts = 1'000'000;
};

struct MultipartHandlers {
  // A part starts: its headers, names lower-cased (e.g. "content-type").
  std::function<void(const std::map<std::string, std::string>& headers)> begin_part;
  std::function<void(const char* data, size_t size)> part_data;
  std::function<void()> end_part;
};

class MultipartReader {
 public:
  // `what` names the body in errors (e.g. the URL it came from).
  MultipartReader(std::string boundary, MultipartHandlers handlers, std::string what, MultipartLimits limits = {});
  // The next bytes of the body; an error (repux::Error) on malformed input or a bound passed.
  void feed(const char* data, size_t size);
  // The body has ended: an error unless the closing boundary was read.
  void finish();
  size_t parts() const { return parts_; }

 private:
  enum class State { Preamble, AfterBoundary, Headers, Body, Done };
  void step();
  bool read_preamble();
  bool read_after_boundary();
  bool read_headers();
  bool read_body();

  std::string delimiter_;  // "\r\n--" + boundary
  MultipartHandlers handlers_;
  std::string what_;
  MultipartLimits limits_;
  std::string buffer_;
  State state_ = State::Preamble;
  uint64_t part_bytes_ = 0;
  size_t parts_ = 0;
};

}  // namespace repux
