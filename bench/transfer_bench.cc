// Transfer benchmark, driven by bench/transfer.sh (which also runs nginx+curl and an rsync
// daemon over the same files in the same run). Server and client run in separate processes.
//
//   transfer_bench prepare DIR MiB    DIR/src/data/selfplay/big.bin (MiB, random) and
//                                     DIR/src/data/selfplay/small/f0..f9999 (4 KiB each)
//   transfer_bench serve DIR          seals DIR/src/data, serves GET /sync/file, POST /sync/files
//                                     and GET /bench/manifest on 127.0.0.1:0; writes DIR/port;
//                                     runs until SIGTERM
//   transfer_bench big DIR URL        PullFile of big.bin into DIR/ours (verified, fsynced)
//   transfer_bench small DIR URL      PullBatch of the 10,000 small files into DIR/ours
//   transfer_bench nochange DIR URL   a sync round with nothing to do: Scan of DIR/ours, the
//                                     source's manifest over HTTP, diff (prints files to pull)
// Figures go to stdout as `key value` lines plus a human line on stderr.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "orchestrator/api/http_server.h"
#include "orchestrator/base/priority.h"
#include "orchestrator/inventory/inventory.h"
#include "orchestrator/inventory/manifest_json.h"
#include "orchestrator/net/http_client.h"
#include "orchestrator/settings/settings.h"
#include "orchestrator/sync/transfer_client.h"
#include "orchestrator/sync/transfer_server.h"

namespace fs = std::filesystem;
using namespace rift;

namespace {

constexpr const char* kToken = "bench-token";
constexpr int kSmallFiles = 10000;

long RssKiB() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

double Since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

[[noreturn]] void Die(const std::string& what, const Status& s) {
  std::fprintf(stderr, "transfer_bench: %s: %s\n", what.c_str(), s.ToString().c_str());
  std::exit(1);
}

std::unique_ptr<inventory::Inventory> OpenInv(const std::string& dir) {
  fs::create_directories(dir + "/data");
  fs::create_directories(dir + "/state");
  inventory::InventoryOptions o;
  o.data_root = dir + "/data";
  o.db_path = dir + "/state/inventory.db";
  o.quiet_period = std::chrono::milliseconds(0);
  auto r = inventory::Inventory::Open(o);
  if (!r.ok()) Die("inventory", r.status());
  return std::move(r).value();
}

int Prepare(const std::string& dir, uint64_t mib) {
  std::string root = dir + "/src/data/selfplay";
  fs::create_directories(root + "/small");
  {
    std::ofstream out(root + "/big.bin", std::ios::binary);
    std::mt19937_64 rng(1);
    std::vector<uint64_t> buf(1 << 17);
    for (uint64_t i = 0; i < mib; ++i) {
      for (auto& v : buf) v = rng();
      out.write(reinterpret_cast<const char*>(buf.data()), 1 << 20);
    }
  }
  std::string data(4096, 'x');
  for (int i = 0; i < kSmallFiles; ++i) {
    std::memcpy(data.data(), &i, sizeof i);
    std::ofstream(root + "/small/f" + std::to_string(i), std::ios::binary) << data;
  }
  return 0;
}

int Serve(const std::string& dir) {
  auto src = OpenInv(dir + "/src");
  if (auto s = src->Scan(NowMs()); !s.ok()) Die("scan", s.status());
  if (auto s = src->Scan(NowMs() + 1000); !s.ok()) Die("scan", s.status());  // quiet 0: seal
  api::Router router(kToken);
  sync::RegisterTransferRoutes(&router, {dir + "/src/data", src.get(), 8, 1000});
  inventory::Inventory* inv = src.get();
  // The records as GET /sync/manifest encodes them (the daemon's route needs a whole node).
  router.Add("GET", "/bench/manifest", [inv](const api::HttpRequest& req) {
    uint64_t cursor = 0;
    if (auto it = req.query.find("cursor"); it != req.query.end()) cursor = std::stoull(it->second);
    inventory::Manifest m = inv->ManifestSince(cursor);
    return api::JsonResponse(200, "{\"records\":" + inventory::RecordsJson(m.records) +
                                      ",\"next_cursor\":" + std::to_string(m.next_cursor) +
                                      ",\"more\":" + (m.more ? "true" : "false") + "}");
  });
  api::ServerOptions so;
  so.bind_host = "127.0.0.1";
  so.port = 0;
  api::HttpServer server(&router, so);
  if (auto s = server.Bind(); !s.ok()) Die("bind", s);
  if (auto s = server.Serve(); !s.ok()) Die("serve", s);
  std::ofstream(dir + "/port.tmp") << server.port() << "\n";
  fs::rename(dir + "/port.tmp", dir + "/port");
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  int sig = 0;
  sigwait(&set, &sig);  // the signals are blocked in main() before any thread starts
  server.Stop();
  return 0;
}

struct Entry {
  uint64_t size;
  std::string sha256;
};

// The source's sealed files, as a puller sees them (paged manifest over HTTP).
// The manifest's sealed files from `*from` on (default: all); `*from` ends at the last cursor.
std::map<std::string, Entry> FetchManifest(const std::string& url, uint64_t* from = nullptr) {
  net::ClientOptions co;
  co.auth_token = kToken;
  co.read_timeout = std::chrono::milliseconds(30000);
  auto client = net::HttpClient::Create(url, co);
  if (!client.ok()) Die("client", client.status());
  std::map<std::string, Entry> out;
  uint64_t cursor = from ? *from : 0;
  // The bench server answers /bench/manifest; a real daemon /sync/manifest.
  std::string route = "/bench/manifest";
  for (;;) {
    auto r = (*client)->Get(route + "?cursor=" + std::to_string(cursor));
    if (!r.ok()) Die("manifest", r.status());
    if (r->status == 404 && route == "/bench/manifest") {
      route = "/sync/manifest";
      continue;
    }
    // Read as the leader reads a node's manifest (datasvc/leader_sync.cc).
    auto page = inventory::ParseManifestPage(r->body);
    if (!page.ok()) Die("manifest", page.status());
    for (auto& f : page->records) {
      if (f.deleted || !f.sealed) {
        out.erase(f.path);
        continue;
      }
      out[f.path] = {f.size, std::move(f.sha256)};
    }
    cursor = page->Unsigned("next_cursor", cursor);
    if (!page->Bool("more", false)) break;
  }
  if (from) *from = cursor;
  return out;
}

// Pulls run at the priority a daemon's transfer workers use (sync.cpu_priority, default idle;
// RINGRIFT_SYNC_CPU_PRIORITY overrides it here as it does for the daemon).
void AsATransferWorker() {
  CpuPriority p = settings::SyncSettings{}.cpu_priority;
  if (const char* env = std::getenv("RINGRIFT_SYNC_CPU_PRIORITY")) {
    auto parsed = ParseCpuPriority(env);
    if (!parsed) Die("RINGRIFT_SYNC_CPU_PRIORITY", InvalidArgument(std::string("'") + env + "'"));
    p = *parsed;
  }
  Status st = SetThreadCpuPriority(p);
  if (!st.ok()) Die("cpu priority", st);
  std::fprintf(stderr, "pulling at cpu priority %s\n", std::string(CpuPriorityName(p)).c_str());
}

sync::PullOptions Opts(inventory::Inventory* dst, const std::string& dir) {
  sync::PullOptions opt;
  opt.data_root = dir + "/ours/data";
  opt.inventory = dst;
  opt.fsync = std::getenv("RIFT_BENCH_NO_FSYNC") == nullptr;  // diagnosis: the path without disk
  return opt;
}

int Big(const std::string& dir, const std::string& url) {
  AsATransferWorker();
  auto dst = OpenInv(dir + "/ours");
  auto manifest = FetchManifest(url);
  const Entry& e = manifest.at("selfplay/big.bin");
  long rss0 = RssKiB();
  auto t0 = std::chrono::steady_clock::now();
  auto r = sync::PullFile({"selfplay/big.bin", e.sha256, e.size, {url}, kToken},
                          Opts(dst.get(), dir));
  double secs = Since(t0);
  if (!r.ok()) Die("pull", r.status());
  double mib = static_cast<double>(e.size) / (1 << 20);
  std::printf("big_mib_s %.1f\nbig_secs %.3f\nbig_client_rss_growth_kib %ld\n", mib / secs, secs,
              RssKiB() - rss0);
  return 0;
}

int Small(const std::string& dir, const std::string& url) {
  AsATransferWorker();
  auto dst = OpenInv(dir + "/ours");
  auto manifest = FetchManifest(url);
  sync::BatchRequest batch{{}, {url}, kToken};
  for (const auto& [path, e] : manifest) {
    if (path.rfind("selfplay/small/", 0) == 0) batch.files.push_back({path, e.sha256, e.size});
  }
  long rss0 = RssKiB();
  auto t0 = std::chrono::steady_clock::now();
  auto b = sync::PullBatch(batch, Opts(dst.get(), dir));
  double secs = Since(t0);
  if (!b.ok()) Die("batch", b.status());
  std::printf("small_files_s %.0f\nsmall_secs %.3f\nsmall_failed %zu\nsmall_rss_growth_kib %ld\n",
              b->files_ok / secs, secs, b->failed.size(), RssKiB() - rss0);
  return b->failed.empty() && b->files_ok == batch.files.size() ? 0 : 1;
}

// What a sync round does when nothing changed: rescan the local tree (stat only; nothing is
// rehashed), read the source's manifest, and diff by (path, sha256).
int NoChange(const std::string& dir, const std::string& url) {
  auto dst = OpenInv(dir + "/ours");
  auto t0 = std::chrono::steady_clock::now();
  auto scan = dst->Scan(NowMs());
  if (!scan.ok()) Die("scan", scan.status());
  double scan_secs = Since(t0);
  uint64_t cursor = 0;
  auto manifest = FetchManifest(url, &cursor);
  double manifest_secs = Since(t0) - scan_secs;
  std::map<std::string, std::string> have;
  for (const auto& r : dst->Sealed()) have[r.path] = r.sha256;
  size_t to_pull = 0;
  for (const auto& [path, e] : manifest) {
    if (path.rfind("selfplay/small/", 0) != 0) continue;
    auto it = have.find(path);
    if (it == have.end() || it->second != e.sha256) ++to_pull;
  }
  double secs = Since(t0);
  // A sitting leader's next round: the same Scan, then only the records past its cursor.
  auto t1 = std::chrono::steady_clock::now();
  auto rescan = dst->Scan(NowMs());
  if (!rescan.ok()) Die("scan", rescan.status());
  auto changed = FetchManifest(url, &cursor);
  for (const auto& [path, e] : changed) {
    auto it = have.find(path);
    if (it == have.end() || it->second != e.sha256) ++to_pull;
  }
  double steady_secs = Since(t1);
  std::fprintf(stderr, "scan %.0f ms, manifest %.0f ms, diff %.0f ms; steady round %.0f ms\n",
               scan_secs * 1000, manifest_secs * 1000, (secs - scan_secs - manifest_secs) * 1000,
               steady_secs * 1000);
  std::printf("nochange_ms %.0f\nnochange_steady_ms %.0f\n", secs * 1000, steady_secs * 1000);
  std::printf("nochange_scanned %llu\nnochange_to_pull %zu\n",
              static_cast<unsigned long long>(scan->files), to_pull);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "prepare" && argc == 4) return Prepare(argv[2], std::stoull(argv[3]));
  if (mode == "serve" && argc == 3) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    return Serve(argv[2]);
  }
  if (mode == "big" && argc == 4) return Big(argv[2], argv[3]);
  if (mode == "small" && argc == 4) return Small(argv[2], argv[3]);
  if (mode == "nochange" && argc == 4) return NoChange(argv[2], argv[3]);
  std::fprintf(stderr,
               "usage: transfer_bench prepare DIR MiB | serve DIR | big DIR URL | small DIR URL "
               "| nochange DIR URL   (see bench/transfer.sh)\n");
  return 2;
}
