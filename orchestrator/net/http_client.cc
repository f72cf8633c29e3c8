// The only file that includes <httplib.h> for outbound requests of the daemon.
#include "orchestrator/net/http_client.h"

#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <mutex>

namespace rift::net {
namespace {

// Accepts http(s)://host[:port][/]; the path part must be empty.
bool ValidBaseUrl(const std::string& url) {
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return false;
  std::string scheme = url.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https") return false;
  std::string rest = url.substr(scheme_end + 3);
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.empty() || rest.find('/') != std::string::npos) return false;
  return rest.find_first_of(" \t\r\n?#@") == std::string::npos;
}

Status TransportError(httplib::Error e, const std::string& url) {
  std::string what = httplib::to_string(e);
  if (e == httplib::Error::ConnectionTimeout) return DeadlineExceeded(url + ": " + what);
  if (e == httplib::Error::Read) return Unavailable(url + ": " + what + " (or timeout)");
  return Unavailable(url + ": " + what);
}

}  // namespace

struct HttpClient::Impl {
  std::string base_url;
  ClientOptions options;
  std::mutex mu;  // one request at a time on the keep-alive connection
  std::unique_ptr<httplib::Client> client;

  httplib::Headers MakeHeaders(const std::vector<std::pair<std::string, std::string>>& extra) {
    httplib::Headers h;
    if (!options.auth_token.empty()) h.emplace("Authorization", "Bearer " + options.auth_token);
    for (const auto& [k, v] : extra) h.emplace(k, v);
    return h;
  }

  Result<HttpResult> Convert(httplib::Result r) {
    if (!r) return TransportError(r.error(), base_url);
    HttpResult out;
    out.status = r->status;
    out.body = std::move(r->body);
    out.content_type = r->get_header_value("Content-Type");
    return out;
  }
};

HttpClient::HttpClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpClient::~HttpClient() = default;

Result<std::unique_ptr<HttpClient>> HttpClient::Create(const std::string& base_url,
                                                       ClientOptions options) {
  if (!ValidBaseUrl(base_url)) {
    return InvalidArgument("not an http(s)://host[:port] URL: '" + base_url + "'");
  }
  auto impl = std::make_unique<Impl>();
  impl->base_url = base_url;
  impl->options = std::move(options);
  std::string url = base_url;
  if (url.back() == '/') url.pop_back();
  impl->client = std::make_unique<httplib::Client>(url);
  if (!impl->client->is_valid()) return InvalidArgument("cannot create a client for " + url);
  auto& c = *impl->client;
  c.set_tcp_nodelay(true);
  c.set_keep_alive(true);
  c.set_connection_timeout(impl->options.connect_timeout);
  c.set_read_timeout(impl->options.read_timeout);
  c.set_write_timeout(impl->options.write_timeout);
  return std::unique_ptr<HttpClient>(new HttpClient(std::move(impl)));
}

Result<HttpResult> HttpClient::Post(
    const std::string& path, const std::string& body, const std::string& content_type,
    const std::vector<std::pair<std::string, std::string>>& headers) {
  std::lock_guard lock(impl_->mu);
  return impl_->Convert(
      impl_->client->Post(path.c_str(), impl_->MakeHeaders(headers), body, content_type.c_str()));
}

Result<HttpResult> HttpClient::Get(
    const std::string& path, const std::vector<std::pair<std::string, std::string>>& headers) {
  std::lock_guard lock(impl_->mu);
  return impl_->Convert(impl_->client->Get(path.c_str(), impl_->MakeHeaders(headers)));
}

Result<HttpResult> HttpClient::Stream(
    const std::string& method, const std::string& path,
    const std::vector<std::pair<std::string, std::string>>& headers,
    const StreamHandlers& handlers, const std::string& body, const std::string& content_type) {
  constexpr size_t kMaxErrorBody = 64 << 10;
  std::lock_guard lock(impl_->mu);
  HttpResult head;
  httplib::Request req;
  req.method = method;
  req.path = path;
  req.headers = impl_->MakeHeaders(headers);
  req.body = body;
  if (!content_type.empty()) req.set_header("Content-Type", content_type);
  req.response_handler = [&](const httplib::Response& r) {
    head.status = r.status;
    head.content_type = r.get_header_value("Content-Type");
    for (const auto& [k, v] : r.headers) {
      std::string name = k;
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      head.headers[name] = v;
    }
    return !handlers.on_head || handlers.on_head(head);
  };
  req.content_receiver = [&](const char* data, size_t len, uint64_t, uint64_t) {
    if (head.status >= 200 && head.status < 300) return handlers.on_data(data, len);
    if (head.body.size() < kMaxErrorBody) {
      head.body.append(data, std::min(len, kMaxErrorBody - head.body.size()));
    }
    return true;
  };
  httplib::Result r = impl_->client->send(req);
  if (!r) {
    if (r.error() == httplib::Error::Canceled) return Unavailable(impl_->base_url + ": canceled");
    return TransportError(r.error(), impl_->base_url);
  }
  return head;
}

const std::string& HttpClient::base_url() const { return impl_->base_url; }

}  // namespace rift::net
