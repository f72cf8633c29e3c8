// Transfer benchmark: one 1 GiB file pulled over loopback (written and fsynced), then 10,000
// files of 4 KiB via POST /sync/files batches. Prints MiB/s, files/s and the RSS growth of this
// process (server and client run in-process; the file is streamed, so growth should be ~0).
// Usage: transfer_bench [dir] [MiB]   (dir defaults to a temp dir; removed at the end)
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "orchestrator/api/http_server.h"
#include "orchestrator/inventory/inventory.h"
#include "orchestrator/sync/transfer_client.h"
#include "orchestrator/sync/transfer_server.h"

namespace fs = std::filesystem;
using namespace rift;

namespace {

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

std::unique_ptr<inventory::Inventory> OpenInv(const std::string& dir) {
  fs::create_directories(dir + "/data");
  fs::create_directories(dir + "/state");
  inventory::InventoryOptions o;
  o.data_root = dir + "/data";
  o.db_path = dir + "/state/inventory.db";
  o.quiet_period = std::chrono::milliseconds(0);
  auto r = inventory::Inventory::Open(o);
  if (!r.ok()) {
    std::fprintf(stderr, "inventory: %s\n", r.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(r).value();
}

}  // namespace

int main(int argc, char** argv) {
  std::string base = argc > 1 ? argv[1] : fs::temp_directory_path().string();
  uint64_t mib = argc > 2 ? std::stoull(argv[2]) : 1024;
  std::string dir = base + "/transfer_bench." + std::to_string(::getpid());
  auto src = OpenInv(dir + "/src");
  auto dst = OpenInv(dir + "/dst");
  std::string src_root = dir + "/src/data", dst_root = dir + "/dst/data";
  fs::create_directories(src_root + "/selfplay/small");
  {
    std::ofstream out(src_root + "/selfplay/big.bin", std::ios::binary);
    std::mt19937_64 rng(1);
    std::vector<uint64_t> buf(1 << 17);
    for (uint64_t i = 0; i < mib; ++i) {
      for (auto& v : buf) v = rng();
      out.write(reinterpret_cast<const char*>(buf.data()), 1 << 20);
    }
  }
  (void)src->SealNow("selfplay/big.bin", 1);
  api::Router router("bench-token");
  sync::RegisterTransferRoutes(&router, {src_root, src.get(), 8, 1000});
  api::ServerOptions so;
  so.bind_host = "127.0.0.1";
  so.port = 0;
  api::HttpServer server(&router, so);
  if (!server.Bind().ok() || !server.Serve().ok()) return 1;
  std::string url = "http://127.0.0.1:" + std::to_string(server.port());
  auto rec = src->Get("selfplay/big.bin");
  sync::PullOptions opt;
  opt.data_root = dst_root;
  opt.inventory = dst.get();
  long rss0 = RssKiB();
  auto t0 = std::chrono::steady_clock::now();
  auto r = sync::PullFile({rec->path, rec->sha256, rec->size, {url}, "bench-token"}, opt);
  double secs = Since(t0);
  if (!r.ok()) {
    std::fprintf(stderr, "pull: %s\n", r.status().ToString().c_str());
    return 1;
  }
  std::printf("transfer_bench: %llu MiB pulled+verified+fsynced in %.2f s = %.0f MiB/s; "
              "RSS growth (server+client) %ld KiB\n",
              static_cast<unsigned long long>(mib), secs, mib / secs, RssKiB() - rss0);
  sync::BatchRequest batch{{}, {url}, "bench-token"};
  std::string data(4096, 'x');
  for (int i = 0; i < 10000; ++i) {
    std::string rel = "selfplay/small/f" + std::to_string(i);
    std::memcpy(data.data(), &i, sizeof i);
    std::ofstream(src_root + "/" + rel, std::ios::binary) << data;
  }
  (void)src->Scan(1);
  (void)src->Scan(100000);  // quiet period 0: sealed now
  for (const auto& f : src->Sealed()) {
    if (f.path.rfind("selfplay/small/", 0) == 0) batch.files.push_back({f.path, f.sha256, f.size});
  }
  rss0 = RssKiB();
  t0 = std::chrono::steady_clock::now();
  auto b = sync::PullBatch(batch, opt);
  secs = Since(t0);
  if (!b.ok()) return 1;
  std::printf("transfer_bench: %llu x 4 KiB files in %.2f s = %.0f files/s (%zu failed); "
              "RSS growth %ld KiB\n",
              static_cast<unsigned long long>(b->files_ok), secs, b->files_ok / secs,
              b->failed.size(), RssKiB() - rss0);
  server.Stop();
  std::error_code ec;
  fs::remove_all(dir, ec);
  return 0;
}
