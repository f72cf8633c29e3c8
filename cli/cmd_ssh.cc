// riftctl ssh trust HOST | check [HOST...]: the pipeline's SSH trust, made explicit. A host key
// is only ever recorded by `ssh trust`; the pipeline refuses unknown and changed keys.
#include <CLI/CLI.hpp>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "cli/output.h"
#include "cli/pipeline_cli.h"
#include "cli/riftctl.h"

namespace rift::cli {
namespace {

using json = nlohmann::json;

struct SshFlags {
  ClusterFlags cluster;
  std::vector<std::string> hosts;
  std::string fingerprint;
};

// A host id from the cluster file, else HOST[:PORT] taken literally.
Result<settings::Host> ResolveHost(const settings::Settings& s, const std::string& name) {
  if (const settings::Host* h = s.FindHost(name)) {
    if (h->ssh_host.empty()) {
      return InvalidArgument("host " + name + " has no ssh_host in " + s.hosts_file);
    }
    return *h;
  }
  settings::Host h;
  h.ssh_host = name;
  size_t colon = name.rfind(':');
  if (colon != std::string::npos && name.find(':') == colon) {
    h.ssh_host = name.substr(0, colon);
    try {
      h.ssh_port = std::stoi(name.substr(colon + 1));
    } catch (const std::exception&) {
      h.ssh_port = 0;
    }
    if (h.ssh_port < 1 || h.ssh_port > 65535) {
      return InvalidArgument("bad port in '" + name + "'");
    }
  }
  if (h.ssh_host.empty()) return InvalidArgument("empty host name");
  return h;
}

std::chrono::seconds ConnectTimeout(const settings::Settings& s) {
  return s.pipeline.connect_timeout;
}

int Trust(Context& ctx, const SshFlags& f) {
  auto s = LoadClusterSettings(ctx, f.cluster);
  if (!s.ok()) return kExitUsage;
  auto host = ResolveHost(*s, f.hosts.at(0));
  if (!host.ok()) return ReportStatus(ctx, host.status());
  const std::string known = KnownHostsFile(ctx, f.cluster, *s);
  pipeline::SshOptions o = SshOptionsFor(*host, known, ConnectTimeout(*s));
  auto before = pipeline::ProbeHostKey(o);
  if (!before.ok()) {
    ctx.err << "riftctl: " << before.status().message() << '\n';
    return PipelineExitCode(before.status());
  }
  auto info = pipeline::TrustHost(o, f.fingerprint);
  if (!info.ok()) {
    ctx.err << "riftctl: " << info.status().message() << '\n';
    return PipelineExitCode(info.status());
  }
  const bool recorded = before->verdict != pipeline::HostKeyInfo::Verdict::kKnown;
  const std::string target = o.address + ":" + std::to_string(o.port);
  if (ctx.json()) {
    ctx.out << json{{"host", host->id.empty() ? target : host->id},
                    {"address", o.address},
                    {"port", o.port},
                    {"key_type", info->key_type},
                    {"fingerprint", info->fingerprint},
                    {"known_hosts", info->known_hosts},
                    {"recorded", recorded}}
                   .dump(2)
            << '\n';
  } else {
    ctx.out << (recorded ? "trusted " : "already trusted ")
            << (host->id.empty() ? target : host->id + " (" + target + ")") << ": "
            << info->key_type << " " << info->fingerprint << (recorded ? " recorded in " : " in ")
            << info->known_hosts << '\n';
  }
  return kExitOk;
}

int Check(Context& ctx, const SshFlags& f) {
  auto s = LoadClusterSettings(ctx, f.cluster);
  if (!s.ok()) return kExitUsage;
  std::vector<settings::Host> hosts;
  if (f.hosts.empty()) {
    for (const auto& h : s->hosts) {
      if (h.status == "ready") hosts.push_back(h);
    }
    if (hosts.empty()) {
      ctx.err << "riftctl: no ready hosts in "
              << (s->hosts_file.empty() ? "(no hosts file)" : s->hosts_file) << '\n';
      return kExitUsage;
    }
  } else {
    for (const auto& name : f.hosts) {
      auto h = ResolveHost(*s, name);
      if (!h.ok()) return ReportStatus(ctx, h.status());
      hosts.push_back(*h);
    }
  }
  const std::string known = KnownHostsFile(ctx, f.cluster, *s);
  Table t({"HOST", "ADDRESS", "KEY", "LOGIN"});
  json rows = json::array();
  int failures = 0;
  Status worst;
  for (const auto& h : hosts) {
    pipeline::SshOptions o = SshOptionsFor(h, known, ConnectTimeout(*s));
    const std::string target = o.address + ":" + std::to_string(o.port);
    std::string key = "-", login = "-";
    Status st;
    auto info = pipeline::ProbeHostKey(o);
    if (!info.ok()) {
      st = info.status();
      key = "unreachable";
    } else {
      key = std::string(pipeline::VerdictName(info->verdict)) + " " + info->fingerprint;
      pipeline::SshRemote remote(o);
      auto r = remote.Exec("echo ok", seconds(30));
      if (!r.ok()) {
        st = r.status();
        login = st.code() == Code::kFailedPrecondition ? "refused (host key)" : "failed";
      } else {
        login = r->exit_code == 0 ? "ok" : "exit " + std::to_string(r->exit_code);
      }
    }
    if (!st.ok()) {
      ++failures;
      if (worst.ok()) worst = st;
    }
    t.AddRow({h.id.empty() ? target : h.id, target, key, login});
    json row = {{"host", h.id.empty() ? target : h.id}, {"address", target}, {"login", login}};
    if (info.ok()) {
      row["verdict"] = std::string(pipeline::VerdictName(info->verdict));
      row["fingerprint"] = info->fingerprint;
      row["key_type"] = info->key_type;
    }
    if (!st.ok()) row["error"] = st.message();
    rows.push_back(std::move(row));
  }
  if (ctx.json()) {
    ctx.out << json{{"known_hosts", known}, {"hosts", rows}, {"ok", failures == 0}}.dump(2) << '\n';
  } else {
    t.Print(ctx.out);
    for (const auto& r : rows) {
      if (r.contains("error")) ctx.err << "riftctl: " << r["error"].get<std::string>() << '\n';
    }
  }
  return failures == 0 ? kExitOk : PipelineExitCode(worst);
}

}  // namespace

void RegisterSshCommands(CLI::App& app, Commands& commands) {
  CLI::App* ssh = app.add_subcommand("ssh", "SSH trust for the pipeline");
  ssh->require_subcommand(1);

  auto trust_flags = std::make_shared<SshFlags>();
  CLI::App* trust =
      ssh->add_subcommand("trust", "Record HOST's key in known_hosts (refuses a key that changed)");
  trust
      ->add_option("host", trust_flags->hosts,
                   "Host id from distributed_hosts.yaml, or HOST[:PORT]")
      ->required()
      ->expected(1);
  trust->add_option("--fingerprint", trust_flags->fingerprint,
                    "Only record the key if its fingerprint is this (SHA256:...), checked "
                    "out of band");
  trust->add_option("--hosts", trust_flags->cluster.hosts_yaml, "distributed_hosts.yaml");
  trust->add_option("--config", trust_flags->cluster.node_conf, "node.conf");
  trust->add_option("--known-hosts", trust_flags->cluster.known_hosts,
                    "known_hosts file (default: pipeline.known_hosts, else ~/.ssh/known_hosts)");
  commands.Add(trust, [trust_flags](Context& ctx) { return Trust(ctx, *trust_flags); });

  auto check_flags = std::make_shared<SshFlags>();
  CLI::App* check = ssh->add_subcommand(
      "check", "Connect to hosts (default: every ready host): host key verdict and login");
  check->add_option("host", check_flags->hosts, "Host ids or HOST[:PORT]");
  check->add_option("--hosts", check_flags->cluster.hosts_yaml, "distributed_hosts.yaml");
  check->add_option("--config", check_flags->cluster.node_conf, "node.conf");
  check->add_option("--known-hosts", check_flags->cluster.known_hosts, "known_hosts file");
  commands.Add(check, [check_flags](Context& ctx) { return Check(ctx, *check_flags); });
}

}  // namespace rift::cli
