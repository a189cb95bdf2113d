#pragma once
// HTTP requests for DICOMweb, on libcurl: TLS (the system's CAs, or --tls-ca; a client certificate),
// the proxies of the environment (http_proxy, https_proxy, no_proxy, as curl reads them), timeouts,
// and retries with back-off where a retry can help (no connection, 408, 429, 500, 502, 503, 504).
// Credentials are read from a file or the environment, never from the command line, and never
// appear in an error or a log line.
#include <cstdint>
#include <functional>
#include <string>

namespace repux {

// HTTP credentials: "user:password" (basic) or "Bearer TOKEN", from `file` when given, else from the
// environment variable `env` when set; neither: no authentication. The file's first line is used; an
// error names the file (never its content) when it holds neither form.
struct HttpAuth {
  std::string user_password;  // basic
  std::string bearer_token;
  bool empty() const { return user_password.empty() && bearer_token.empty(); }
};
HttpAuth read_http_auth(const std::string& file, const char* env);

struct HttpOptions {
  HttpAuth auth;
  long connect_timeout_seconds = 10;
  long low_speed_seconds = 60;  // a transfer that moves nothing for this long is abandoned (and retried)
  int retries = 3;              // further attempts after a failed one
  double first_retry_seconds = 1;  // doubled after each attempt, at most 30 s
  std::string ca_file, client_certificate, client_key;  // PEM; empty: the system's CAs, no client certificate
};

struct HttpResponse {
  long status = 0;
  std::string content_type;
  std::string body;  // empty when the body went to a sink
};

// What a streamed GET does with the body of a 2xx answer: `begin` gets its Content-Type, then `data`
// each chunk; `restart` is called before a retry, so that what a failed attempt wrote is discarded.
struct HttpSink {
  std::function<void(const std::string& content_type)> begin;
  std::function<void(const char* data, size_t size)> data;
  std::function<void()> restart;
};

class HttpClient {
 public:
  explicit HttpClient(HttpOptions options);
  // GET `url` with an Accept header; the body in the response. An error for a non-2xx answer after
  // the retries, naming the URL (without credentials) and the status.
  HttpResponse get(const std::string& url, const std::string& accept) const;
  // GET with the body streamed to `sink`.
  HttpResponse get(const std::string& url, const std::string& accept, const HttpSink& sink) const;
  // POST `body` as `content_type`.
  HttpResponse post(const std::string& url, const std::string& content_type, const std::string& body, const std::string& accept) const;
  // `text` escaped for a URL's query (curl_easy_escape).
  static std::string escape(const std::string& text);

 private:
  struct Request;
  HttpResponse perform(const Request& request) const;
  HttpOptions options_;
};

}  // namespace repux
