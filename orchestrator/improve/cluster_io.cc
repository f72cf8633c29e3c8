#include "orchestrator/improve/cluster_io.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <thread>

#include "orchestrator/net/http_client.h"

namespace rift::improve::internal {
namespace {

using nlohmann::json;

std::string Escape(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string Basename(const std::string& p) {
  auto slash = p.find_last_of('/');
  return slash == std::string::npos ? p : p.substr(slash + 1);
}

// A result path relative to the data root: below `data_dir` when it is, else the job's out_dir
// plus the file's name.
std::string Relative(const std::string& path, const std::string& out_dir_in,
                     const std::string& data_dir) {
  if (!data_dir.empty() && path.size() > data_dir.size() + 1 &&
      path.compare(0, data_dir.size(), data_dir) == 0 && path[data_dir.size()] == '/') {
    return path.substr(data_dir.size() + 1);
  }
  std::string out_dir = out_dir_in;
  while (!out_dir.empty() && out_dir.back() == '/') out_dir.pop_back();
  std::string name = Basename(path);
  if (name.empty()) return "";
  return out_dir.empty() ? name : out_dir + "/" + name;
}

JobStatus StatusOf(const json& j, const std::string& data_dir) {
  JobStatus st;
  std::string state = j.value("state", "");
  if (state == "starting" || state == "running") {
    st.seen = JobStatus::Seen::kActive;
  } else if (state == "exited" && j.value("exit_code", json(0)).is_number_integer() &&
             j.value("exit_code", 0) == 0) {
    st.seen = JobStatus::Seen::kSucceeded;
  } else {
    st.seen = JobStatus::Seen::kFailed;
    st.error = "job " + j.value("id", "?") + " " + (state.empty() ? "in an unknown state" : state);
    if (j.contains("exit_code") && j["exit_code"].is_number_integer()) {
      st.error += " (exit " + std::to_string(j["exit_code"].get<int>()) + ")";
    }
    if (j.contains("signal") && j["signal"].is_number_integer()) {
      st.error += " (signal " + std::to_string(j["signal"].get<int>()) + ")";
    }
  }
  const json result = j.value("result", json::object());
  if (result.is_object()) {
    for (const auto& [k, v] : result.items()) {
      if (v.is_number()) st.numbers[k] = v.get<double>();
    }
    std::string out_dir = j.value("out_dir", json("")).is_string() ? j.value("out_dir", "") : "";
    if (result.contains("file") && result["file"].is_string()) {
      st.file = Relative(result["file"].get<std::string>(), out_dir, data_dir);
    }
    if (result.contains("model") && result["model"].is_string()) {
      st.model = Relative(result["model"].get<std::string>(), out_dir, data_dir);
    }
  }
  return st;
}

void AddJobJson(const json& j, const std::string& data_dir, JobsListing* out) {
  if (!j.is_object()) return;
  JobView v;
  v.id = j.value("id", "");
  v.kind = j.value("kind", "");
  v.state = j.value("state", "");
  if (j.contains("idempotency_key") && j["idempotency_key"].is_string()) {
    v.idempotency_key = j["idempotency_key"].get<std::string>();
  }
  if (!v.idempotency_key.empty()) out->by_key[v.idempotency_key] = StatusOf(j, data_dir);
  out->views.push_back(std::move(v));
}

}  // namespace

Reply Call(const std::string& url, const std::string& token, const std::string& method,
           const std::string& path, const std::string& body, uint64_t term,
           std::chrono::milliseconds timeout,
           const std::vector<std::pair<std::string, std::string>>& extra, bool want_headers) {
  Reply out;
  net::ClientOptions o;
  o.auth_token = token;
  o.connect_timeout = std::chrono::milliseconds(1000);
  o.read_timeout = timeout;
  o.write_timeout = timeout;
  auto client = net::HttpClient::Create(url, o);
  if (!client.ok()) {
    out.error = client.status().ToString();
    return out;
  }
  auto headers = extra;
  if (term) headers.emplace_back("X-RingRift-Term", std::to_string(term));
  Result<net::HttpResult> r = Unavailable("not sent");
  if (want_headers) {
    net::StreamHandlers h;
    int head_status = 0;
    h.on_head = [&](const net::HttpResult& head) {
      head_status = head.status;
      out.headers = head.headers;
      return head.status == 206;  // never stream a whole file
    };
    h.on_data = [&](const char* d, size_t n) {
      out.body.append(d, n);
      return out.body.size() < (1 << 16);
    };
    r = (*client)->Stream(method, path, headers, h, body, body.empty() ? "" : "application/json");
    out.status = r.ok() ? r->status : head_status;  // a cancel after the head keeps its status
    if (out.status == 0) out.error = r.status().ToString();
    return out;
  }
  r = method == "GET" ? (*client)->Get(path, headers)
                      : (*client)->Post(path, body, "application/json", headers);
  if (!r.ok()) {
    out.error = r.status().ToString();
    return out;
  }
  out.status = r->status;
  out.body = std::move(r->body);
  return out;
}

void ForEachParallel(size_t n, size_t threads, const std::function<void(size_t)>& fn) {
  std::atomic<size_t> next{0};
  std::vector<std::thread> pool;
  for (size_t t = 0; t < std::min(n, std::max<size_t>(1, threads)); ++t) {
    pool.emplace_back([&] {
      for (size_t i; (i = next++) < n;) fn(i);
    });
  }
  for (auto& t : pool) t.join();
}

Result<JobsListing> ParseJobs(const std::string& body, const std::string& data_dir) {
  json j = json::parse(body, nullptr, false);
  const json* list = nullptr;
  if (j.is_array()) list = &j;
  if (j.is_object() && j.contains("jobs") && j["jobs"].is_array()) list = &j["jobs"];
  if (!list) return InvalidArgument("jobs: expected {\"jobs\":[...]}");
  JobsListing out;
  try {
    for (const auto& item : *list) AddJobJson(item, data_dir, &out);
  } catch (const json::exception& e) {
    return InvalidArgument(std::string("jobs: ") + e.what());
  }
  return out;
}

std::optional<FileVersion> Probe(const std::string& url, const std::string& token,
                                 const std::string& rel) {
  Reply r = Call(url, token, "GET", "/sync/file?path=" + Escape(rel), "", 0,
                 std::chrono::milliseconds(3000), {{"Range", "bytes=0-0"}}, true);
  if (r.status != 206) return std::nullopt;
  FileVersion v;
  auto xs = r.headers.find("x-ringrift-sha256");
  auto et = r.headers.find("etag");
  if (xs != r.headers.end()) {
    v.sha256 = xs->second;
  } else if (et != r.headers.end()) {
    v.sha256 = et->second;
    v.sha256.erase(std::remove(v.sha256.begin(), v.sha256.end(), '"'), v.sha256.end());
  }
  auto cr = r.headers.find("content-range");  // "bytes 0-0/SIZE"
  if (cr != r.headers.end()) {
    auto slash = cr->second.find('/');
    if (slash != std::string::npos)
      v.size = std::strtoull(cr->second.c_str() + slash + 1, nullptr, 10);
  }
  if (v.sha256.empty()) return std::nullopt;
  return v;
}

std::string CapacityJson(const Capacity& c) {
  return json{{"node_id", c.node_id},
              {"cpus", c.cpus},
              {"gpus", c.gpus},
              {"memory_percent", c.memory_percent},
              {"disk_percent", c.disk_percent},
              {"disk_high_percent", c.disk_high_percent},
              {"healthy", c.healthy},
              {"outbound_only", c.outbound_only},
              {"data_dir", c.data_dir}}
      .dump();
}

Result<Capacity> ParseCapacity(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (!j.is_object()) return InvalidArgument("capacity: expected a JSON object");
  try {
    Capacity c;
    c.node_id = j.value("node_id", "");
    c.cpus = j.value("cpus", 0);
    c.gpus = j.value("gpus", 0);
    c.memory_percent = j.value("memory_percent", 0.0);
    c.disk_percent = j.value("disk_percent", 0.0);
    c.disk_high_percent = j.value("disk_high_percent", 80.0);
    c.healthy = j.value("healthy", true);
    c.outbound_only = j.value("outbound_only", false);
    c.data_dir = j.value("data_dir", "");
    return c;
  } catch (const json::exception& e) {
    return InvalidArgument(std::string("capacity: ") + e.what());
  }
}

std::string StartJobBody(const std::string& kind, const std::map<std::string, std::string>& params,
                         const std::string& key, uint64_t term) {
  return json{{"kind", kind}, {"params", params}, {"idempotency_key", key}, {"term", term}}.dump();
}

std::string PullBody(const std::string& path, const FileVersion& v, const std::string& source_url,
                     uint64_t term) {
  json f = {{"path", path}, {"sha256", v.sha256}, {"size", v.size}, {"sources", {source_url}}};
  return json{{"files", json::array({f})}, {"term", term}}.dump();
}

}  // namespace rift::improve::internal

namespace rift::improve {

int GpuCount(const std::string& gpu) {
  std::string g;
  for (char c : gpu) g += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  while (!g.empty() && std::isspace(static_cast<unsigned char>(g.back()))) g.pop_back();
  if (g.empty() || g == "none" || g == "no" || g == "cpu" || g == "0") return 0;
  size_t i = 0;
  while (i < g.size() && std::isdigit(static_cast<unsigned char>(g[i]))) ++i;
  if (i > 0) {
    size_t j = i;
    while (j < g.size() && g[j] == ' ') ++j;
    if (j < g.size() && g[j] == 'x') return std::max(1, std::atoi(g.substr(0, i).c_str()));
  }
  return 1;
}

}  // namespace rift::improve
