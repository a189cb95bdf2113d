#include "repux/net/http_client.h"

#include "repux/error.h"

#include <curl/curl.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <thread>

namespace repux {
namespace {

// libcurl's global state, set up once before any handle (curl_global_init is not thread-safe).
void init_curl_once() {
  static const bool done = [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) fail("libcurl could not be initialised");
    return true;
  }();
  (void)done;
}

HttpAuth parse_auth(const std::string& text, const std::string& source) {
  HttpAuth auth;
  if (text.rfind("Bearer ", 0) == 0 && text.size() > 7) {
    auth.bearer_token = text.substr(7);
  } else if (text.find(':') != std::string::npos && text.find(':') > 0) {
    auth.user_password = text;
  } else {
    fail("{}: expected 'user:password' or 'Bearer TOKEN' on its first line", source);
  }
  return auth;
}

bool retriable(long status) { return status == 408 || status == 429 || status == 500 || status == 502 || status == 503 || status == 504; }

std::string status_meaning(long status) {
  switch (status) {
    case 401: return " Unauthorized (the credentials of --auth-file or REPUX_DICOMWEB_AUTH were refused or are missing)";
    case 403: return " Forbidden";
    case 404: return " Not Found";
    case 503: return " Service Unavailable";
    default: return "";
  }
}

// The first line of an error body, short, for the message.
std::string body_hint(const std::string& body) {
  std::string line = body.substr(0, std::min(body.find('\n'), size_t{200}));
  return line.empty() ? "" : ": " + line;
}

}  // namespace

HttpAuth read_http_auth(const std::string& file, const char* env) {
  if (!file.empty()) {
    std::ifstream in(file);
    if (!in) fail("{}: cannot read the credentials file", file);
    std::string line;
    std::getline(in, line);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    return parse_auth(line, file);
  }
  const char* value = std::getenv(env);
  if (!value || !*value) return {};
  return parse_auth(value, std::string("the environment variable ") + env);
}

struct HttpClient::Request {
  std::string method, url, accept, content_type;
  const std::string* body = nullptr;
  const HttpSink* sink = nullptr;
};

HttpClient::HttpClient(HttpOptions options) : options_(std::move(options)) { init_curl_once(); }

std::string HttpClient::escape(const std::string& text) {
  init_curl_once();
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  char* escaped = curl_easy_escape(curl.get(), text.c_str(), static_cast<int>(text.size()));
  std::string out = escaped ? escaped : "";
  curl_free(escaped);
  return out;
}

HttpResponse HttpClient::get(const std::string& url, const std::string& accept) const { return perform({"GET", url, accept, "", nullptr, nullptr}); }

HttpResponse HttpClient::get(const std::string& url, const std::string& accept, const HttpSink& sink) const {
  return perform({"GET", url, accept, "", nullptr, &sink});
}

HttpResponse HttpClient::post(const std::string& url, const std::string& content_type, const std::string& body, const std::string& accept) const {
  return perform({"POST", url, accept, content_type, &body, nullptr});
}

namespace {

// One attempt's state, reached from libcurl's callbacks.
struct Transfer {
  HttpResponse response;
  const HttpSink* wanted = nullptr;  // the caller's sink
  const HttpSink* sink = nullptr;    // the same, once a 2xx status line is read: an error's body is kept for the message
  bool began = false;
  std::exception_ptr error;  // thrown by the sink: the transfer is stopped and this rethrown
};

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto& t = *static_cast<Transfer*>(user);
  std::string line(data, size * count);
  if (line.rfind("HTTP/", 0) == 0) {  // a new response (after 100 Continue)
    t.response.content_type.clear();
    const auto space = line.find(' ');
    const long status = space == std::string::npos ? 0 : std::strtol(line.c_str() + space + 1, nullptr, 10);
    t.sink = status >= 200 && status < 300 ? t.wanted : nullptr;
  }
  const auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (name == "content-type") {
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(" \t"));
      while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) value.pop_back();
      t.response.content_type = value;
    }
  }
  return size * count;
}

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto& t = *static_cast<Transfer*>(user);
  const size_t n = size * count;
  if (!t.sink) {
    // A body kept in memory: a QIDO or STOW answer (bounded), or an error's body (its start, for the message).
    const size_t limit = t.wanted ? 64 * 1024 : 256u << 20;
    if (t.response.body.size() + n > limit) {
      if (t.wanted) return n;
      return 0;  // too large an answer: the transfer stops with an error
    }
    t.response.body.append(data, n);
    return n;
  }
  try {
    if (!t.began) {
      t.began = true;
      if (t.sink->begin) t.sink->begin(t.response.content_type);
    }
    if (t.sink->data) t.sink->data(data, n);
  } catch (...) {
    t.error = std::current_exception();
    return 0;  // stops the transfer
  }
  return n;
}

}  // namespace

HttpResponse HttpClient::perform(const Request& r) const {
  double wait = options_.first_retry_seconds;
  for (int attempt = 0;; ++attempt) {
    std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
    if (!curl) fail("{}: libcurl could not start a request", r.url);
    CURL* c = curl.get();
    Transfer t;
    t.wanted = r.sink;
    struct Headers {
      curl_slist* list = nullptr;
      ~Headers() { curl_slist_free_all(list); }
    } headers;
    if (!r.accept.empty()) headers.list = curl_slist_append(headers.list, ("Accept: " + r.accept).c_str());
    if (!r.content_type.empty()) headers.list = curl_slist_append(headers.list, ("Content-Type: " + r.content_type).c_str());
    headers.list = curl_slist_append(headers.list, "Expect:");  // no 100-continue round trip
    curl_easy_setopt(c, CURLOPT_URL, r.url.c_str());
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.list);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, options_.connect_timeout_seconds);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, options_.low_speed_seconds);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
    if (!options_.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, options_.ca_file.c_str());
    if (!options_.client_certificate.empty()) curl_easy_setopt(c, CURLOPT_SSLCERT, options_.client_certificate.c_str());
    if (!options_.client_key.empty()) curl_easy_setopt(c, CURLOPT_SSLKEY, options_.client_key.c_str());
    if (!options_.auth.user_password.empty()) {
      curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
      curl_easy_setopt(c, CURLOPT_USERPWD, options_.auth.user_password.c_str());
    } else if (!options_.auth.bearer_token.empty()) {
      curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
      curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, options_.auth.bearer_token.c_str());
    }
    if (r.method == "POST") {
      curl_easy_setopt(c, CURLOPT_POST, 1L);
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, r.body->data());
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body->size()));
    }
    const CURLcode code = curl_easy_perform(c);
    if (t.error) std::rethrow_exception(t.error);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &t.response.status);
    const bool ok = code == CURLE_OK && t.response.status >= 200 && t.response.status < 300;
    if (ok) return t.response;
    const bool can_retry = code != CURLE_OK ? code != CURLE_SSL_CACERT_BADFILE && code != CURLE_SSL_CERTPROBLEM && code != CURLE_UNSUPPORTED_PROTOCOL &&
                                                  code != CURLE_URL_MALFORMAT && code != CURLE_PEER_FAILED_VERIFICATION
                                            : retriable(t.response.status);
    if (!can_retry || attempt >= options_.retries) {
      if (code != CURLE_OK) fail("{} {}: {} (after {} attempt(s))", r.method, r.url, curl_easy_strerror(code), attempt + 1);
      fail("{} {}: HTTP {}{}{}{}", r.method, r.url, t.response.status, status_meaning(t.response.status), body_hint(t.response.body),
           attempt > 0 ? fmt::format(" (after {} attempts)", attempt + 1) : "");
    }
    if (r.sink && r.sink->restart && t.began) r.sink->restart();
    std::this_thread::sleep_for(std::chrono::duration<double>(std::min(wait, 30.0)));
    wait *= 2;
  }
}

}  // namespace repux
