#include "cli/common.h"

#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

extern char** environ;  // NOLINT: POSIX

namespace rift::cli {
namespace {

std::string Trim(std::string s) {
  const char* ws = " \t\r\n";
  s.erase(0, s.find_first_not_of(ws));
  s.erase(s.find_last_not_of(ws) + 1);
  return s;
}

std::string OctalMode(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

net::ApiClient MakeClient(const Context& ctx, std::vector<std::string> addrs, std::string token) {
  auto read = std::chrono::milliseconds(static_cast<int64_t>(ctx.flags.timeout_s * 1000));
  net::ApiTimeouts t;
  t.read = std::max(read, std::chrono::milliseconds(1));
  t.connect = std::min(t.connect, t.read);
  return net::ApiClient(std::move(addrs), std::move(token), t);
}

Reply Finish(Context& ctx, Result<net::ApiResponse> res) {
  Reply reply;
  if (!res.ok()) {
    reply.exit_code = ReportStatus(ctx, res.status());
    return reply;
  }
  reply.response = std::move(res).value();
  if (!reply.response.ok()) {
    net::ApiError e = net::ParseApiError(reply.response);
    if (ctx.json() && !reply.response.body.empty()) ctx.out << reply.response.body << '\n';
    ctx.err << "riftctl: " << e.code << ": " << e.message << " (HTTP " << reply.response.status
            << " from " << reply.response.addr_used << ")\n";
    reply.exit_code = kExitRemote;
  }
  return reply;
}

template <typename Fn>
Reply Call(Context& ctx, Fn&& fn) {
  Result<std::vector<std::string>> addrs = ResolveAddrs(ctx);
  if (!addrs.ok()) return Reply{ReportStatus(ctx, addrs.status()), {}};
  Result<std::string> token = ResolveToken(ctx);
  if (!token.ok()) return Reply{ReportStatus(ctx, token.status()), {}};
  net::ApiClient client = MakeClient(ctx, std::move(addrs).value(), std::move(token).value());
  return Finish(ctx, fn(client));
}

}  // namespace

Environment ProcessEnvironment() {
  Environment env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string kv = *e;
    auto eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return env;
}

std::string Context::Env(const std::string& key) const {
  auto it = env.find(key);
  return it == env.end() ? std::string() : it->second;
}

Result<std::string> ReadTokenFile(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return NotFound("cannot read token file " + path + ": " + std::strerror(errno));
  }
  if ((st.st_mode & (S_IRGRP | S_IROTH)) != 0) {
    return PermissionDenied("token file " + path + " is readable by group or others (mode " +
                            OctalMode(st.st_mode) + "); refusing it. Fix: chmod 600 " + path);
  }
  std::ifstream in(path);
  if (!in) return NotFound("cannot read token file " + path + ": " + std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  std::string token = Trim(ss.str());
  if (token.empty()) return InvalidArgument("token file " + path + " is empty");
  return token;
}

Result<std::vector<std::string>> ResolveAddrs(const Context& ctx) {
  std::vector<std::string> raw = ctx.flags.addrs;
  if (raw.empty()) {
    std::stringstream ss(ctx.Env(kEnvAddr));
    for (std::string item; std::getline(ss, item, ',');) {
      item = Trim(item);
      if (!item.empty()) raw.push_back(item);
    }
  }
  if (raw.empty()) raw.push_back(kDefaultAddr);
  std::vector<std::string> out;
  for (const std::string& a : raw) {
    Result<std::string> addr = net::NormalizeAddr(Trim(a));
    if (!addr.ok()) return addr.status();
    if (std::find(out.begin(), out.end(), *addr) == out.end()) out.push_back(*addr);
  }
  return out;
}

Result<std::string> ResolveToken(const Context& ctx) {
  if (!ctx.flags.token.empty()) return ctx.flags.token;
  if (!ctx.flags.token_file.empty()) return ReadTokenFile(ctx.flags.token_file);
  if (std::string t = Trim(ctx.Env(kEnvToken)); !t.empty()) return t;
  if (std::string f = ctx.Env(kEnvTokenFile); !f.empty()) return ReadTokenFile(f);
  return std::string();
}

Reply CallGet(Context& ctx, const std::string& path, Target target) {
  return Call(ctx, [&](const net::ApiClient& c) {
    return target == Target::kLeader ? c.GetFromLeader(path) : c.Get(path);
  });
}

Reply CallPost(Context& ctx, const std::string& path, const std::string& body, Target target) {
  return Call(ctx, [&](const net::ApiClient& c) {
    return target == Target::kLeader ? c.PostToLeader(path, body) : c.Post(path, body);
  });
}

int ReportStatus(Context& ctx, const Status& status) {
  switch (status.code()) {
    case Code::kUnavailable:
      ctx.err << "riftctl: cannot reach the cluster: " << status.message() << '\n';
      return kExitUnreachable;
    case Code::kInvalidArgument:
    case Code::kNotFound:
    case Code::kPermissionDenied:
      ctx.err << "riftctl: " << status.message() << '\n';
      return kExitUsage;
    default:
      ctx.err << "riftctl: " << status.message() << '\n';
      return kExitRemote;
  }
}

void Commands::Add(CLI::App* subcommand, Handler handler) {
  int depth = 0;
  for (CLI::App* a = subcommand->get_parent(); a != nullptr; a = a->get_parent()) ++depth;
  entries_.push_back(Entry{subcommand, depth, std::move(handler)});
}

const Handler* Commands::Selected() const {
  const Entry* best = nullptr;
  for (const Entry& e : entries_) {
    if (e.app->parsed() && (best == nullptr || e.depth > best->depth)) best = &e;
  }
  return best == nullptr ? nullptr : &best->handler;
}

}  // namespace rift::cli
