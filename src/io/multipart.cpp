#include "repux/io/multipart.h"

#include "repux/error.h"

#include <algorithm>
#include <cctype>

namespace repux {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string trimmed(const std::string& s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string::npos) return "";
  return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

}  // namespace

std::string multipart_boundary(const std::string& content_type) {
  if (lower(content_type).rfind("multipart/", 0) != 0) fail("Content-Type '{}': expected a multipart body", content_type);
  size_t at = 0;
  while ((at = content_type.find(';', at)) != std::string::npos) {
    ++at;
    const auto eq = content_type.find('=', at);
    if (eq == std::string::npos) break;
    if (lower(trimmed(content_type.substr(at, eq - at))) != "boundary") continue;
    std::string value = content_type.substr(eq + 1);
    value = trimmed(value.substr(0, value[0] == '"' ? std::string::npos : value.find(';')));
    if (!value.empty() && value[0] == '"') {
      const auto close = value.find('"', 1);
      if (close == std::string::npos) fail("Content-Type '{}': unterminated quoted boundary", content_type);
      value = value.substr(1, close - 1);
    }
    if (value.empty() || value.size() > 70) fail("Content-Type '{}': a boundary of 1 to 70 characters expected", content_type);
    return value;
  }
  fail("Content-Type '{}': no boundary parameter", content_type);
}

MultipartReader::MultipartReader(std::string boundary, MultipartHandlers handlers, std::string what, MultipartLimits limits)
    : delimiter_("\r\n--" + boundary), handlers_(std::move(handlers)), what_(std::move(what)), limits_(limits) {
  if (boundary.empty()) fail("{}: empty multipart boundary", what_);
  // The first boundary may open the body with no line break before it: read as if one were there.
  buffer_ = "\r\n";
}

void MultipartReader::feed(const char* data, size_t size) {
  if (state_ == State::Done) return;  // the epilogue is ignored
  buffer_.append(data, size);
  step();
}

void MultipartReader::step() {
  bool progress = true;
  while (progress && state_ != State::Done) {
    switch (state_) {
      case State::Preamble: progress = read_preamble(); break;
      case State::AfterBoundary: progress = read_after_boundary(); break;
      case State::Headers: progress = read_headers(); break;
      case State::Body: progress = read_body(); break;
      case State::Done: progress = false; break;
    }
  }
}

bool MultipartReader::read_preamble() {
  const auto at = buffer_.find(delimiter_);
  if (at == std::string::npos) {
    if (buffer_.size() > limits_.max_preamble + delimiter_.size()) fail("{}: no multipart boundary in the first {} bytes", what_, limits_.max_preamble);
    return false;
  }
  buffer_.erase(0, at + delimiter_.size());
  state_ = State::AfterBoundary;
  return true;
}

bool MultipartReader::read_after_boundary() {
  // Transport padding (spaces, tabs) may follow a boundary before its line break.
  const auto end = buffer_.find_first_not_of(" \t");
  if (end == std::string::npos || buffer_.size() < end + 2) {
    if (buffer_.size() > 1024) fail("{}: malformed multipart boundary line", what_);
    return false;
  }
  const std::string next = buffer_.substr(end, 2);
  if (next == "--") {
    state_ = State::Done;
    buffer_.clear();
    return false;
  }
  if (next != "\r\n") fail("{}: malformed multipart boundary line (expected CRLF or '--' after the boundary)", what_);
  buffer_.erase(0, end + 2);
  if (++parts_ > limits_.max_parts) fail("{}: more than {} multipart parts", what_, limits_.max_parts);
  state_ = State::Headers;
  return true;
}

bool MultipartReader::read_headers() {
  // An empty header block is just the blank line.
  const bool none = buffer_.rfind("\r\n", 0) == 0;
  const auto end = none ? 0 : buffer_.find("\r\n\r\n");
  if (end == std::string::npos) {
    if (buffer_.size() > limits_.max_headers) fail("{}: part {}'s headers exceed {} bytes", what_, parts_, limits_.max_headers);
    return false;
  }
  if (end > limits_.max_headers) fail("{}: part {}'s headers exceed {} bytes", what_, parts_, limits_.max_headers);
  std::map<std::string, std::string> headers;
  size_t line_start = 0;
  while (line_start < end) {
    auto line_end = buffer_.find("\r\n", line_start);
    if (line_end == std::string::npos || line_end > end) line_end = end;
    const std::string line = buffer_.substr(line_start, line_end - line_start);
    const auto colon = line.find(':');
    if (colon == std::string::npos || colon == 0) fail("{}: part {}: malformed header line", what_, parts_);
    headers[lower(trimmed(line.substr(0, colon)))] = trimmed(line.substr(colon + 1));
    line_start = line_end + 2;
  }
  buffer_.erase(0, none ? 2 : end + 4);
  part_bytes_ = 0;
  if (handlers_.begin_part) handlers_.begin_part(headers);
  state_ = State::Body;
  return true;
}

bool MultipartReader::read_body() {
  const auto at = buffer_.find(delimiter_);
  // Without the delimiter, all but a possible start of it is content.
  const size_t content = at != std::string::npos ? at : buffer_.size() - std::min(buffer_.size(), delimiter_.size() - 1);
  part_bytes_ += content;
  if (part_bytes_ > limits_.max_part) fail("{}: part {} exceeds {} bytes", what_, parts_, limits_.max_part);
  if (content > 0 && handlers_.part_data) handlers_.part_data(buffer_.data(), content);
  if (at == std::string::npos) {
    buffer_.erase(0, content);
    return false;
  }
  buffer_.erase(0, at + delimiter_.size());
  if (handlers_.end_part) handlers_.end_part();
  state_ = State::AfterBoundary;
  return true;
}

void MultipartReader::finish() {
  if (state_ != State::Done) {
    fail("{}: truncated multipart body ({} part(s) begun, the closing boundary missing)", what_, parts_);
  }
}

}  // namespace repux
