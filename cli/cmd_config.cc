// riftctl config check: validate node.conf, distributed_hosts.yaml and the environment locally,
// printing every problem as `file:line: key: message` (the same checks as
// `ringrift-p2p --check-config`).
// riftctl config get KEY: print one value of distributed_hosts.yaml (KEY is a dotted path such as
// hosts.gpu-1.ssh_port), so shell scripts read the cluster file with our own binaries.
#include <yaml-cpp/yaml.h>

#include <CLI/CLI.hpp>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "cli/common.h"
#include "cli/output.h"
#include "cli/riftctl.h"
#include "orchestrator/settings/settings.h"

namespace rift::cli {
namespace {

using json = nlohmann::json;

struct ConfigCheckOptions {
  std::string node_conf;
  std::string hosts_yaml;
};

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ",") + s;
  return out;
}

int RunConfigCheck(Context& ctx, const ConfigCheckOptions& opts) {
  settings::Sources sources;
  sources.env = ctx.env;  // Load only looks at the keys it knows
  if (!opts.node_conf.empty()) sources.node_conf_path = opts.node_conf;
  if (!opts.hosts_yaml.empty()) sources.hosts_yaml_path = opts.hosts_yaml;

  std::vector<settings::Problem> problems;
  Result<settings::Settings> loaded = settings::Load(sources, &problems);
  if (loaded.ok()) settings::CheckDeployment(*loaded, &problems);

  int errors = 0, warnings = 0;
  for (const auto& p : problems) {
    (p.severity == settings::Problem::Severity::kError ? errors : warnings)++;
  }
  bool ok = loaded.ok() && errors == 0;

  if (ctx.json()) {
    json doc = {
        {"ok", ok}, {"errors", errors}, {"warnings", warnings}, {"problems", json::array()}};
    for (const auto& p : problems) {
      doc["problems"].push_back(
          {{"severity", p.severity == settings::Problem::Severity::kError ? "error" : "warning"},
           {"file", p.file},
           {"line", p.line},
           {"key", p.key},
           {"message", p.message}});
    }
    if (loaded.ok()) {
      doc["settings"] = {{"node_id", loaded->node_id},
                         {"port", loaded->port},
                         {"advertise_url", loaded->advertise_url},
                         {"voters", loaded->voters},
                         {"hosts", loaded->hosts.size()},
                         {"hosts_file", loaded->hosts_file}};
    }
    ctx.out << doc.dump(2) << '\n';
  } else {
    for (const auto& p : problems) ctx.out << p.ToString() << '\n';
    if (ok) {
      const settings::Settings& s = *loaded;
      PrintKeyValues(ctx.out,
                     {{"config", warnings == 0 ? "OK" : "OK with warnings"},
                      {"node", s.node_id.empty() ? "(unset)" : s.node_id},
                      {"port", std::to_string(s.port)},
                      {"voters", s.voters.empty() ? "(none)" : Join(s.voters)},
                      {"hosts", std::to_string(s.hosts.size()) +
                                    (s.hosts_file.empty() ? "" : " from " + s.hosts_file)}});
    } else {
      ctx.err << "riftctl: config check failed: " << errors << " error(s), " << warnings
              << " warning(s)\n";
    }
  }
  return ok ? kExitOk : kExitRemote;
}

// ---- config get ---------------------------------------------------------------------------

struct ConfigGetOptions {
  std::string key;
  std::string hosts_yaml;
  std::string default_value;
  bool has_default = false;
};

std::vector<std::string> SplitKey(const std::string& key) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t dot = key.find('.', start);
    parts.push_back(key.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return parts;
}

std::string JoinParts(const std::vector<std::string>& parts, size_t from, size_t to) {
  std::string out;
  for (size_t i = from; i <= to; ++i) out += (i == from ? "" : ".") + parts[i];
  return out;
}

bool IsIndex(const std::string& s) {
  if (s.empty() || s.size() > 9) return false;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// Walks `parts[i..]` down from `node`. Map keys may themselves contain dots (node ids such as
// "gpu.1"), so at a map the longest run of parts that names a key wins. In a list, a part is an
// index or the `name:` of an element (file_classes.selfplay.replication).
std::optional<YAML::Node> Find(const YAML::Node& node, const std::vector<std::string>& parts,
                               size_t i) {
  if (i == parts.size()) return node;
  if (node.IsMap()) {
    for (size_t j = parts.size(); j-- > i;) {
      const std::string want = JoinParts(parts, i, j);
      for (const auto& kv : node) {
        if (kv.first.IsScalar() && kv.first.Scalar() == want) {
          if (auto found = Find(kv.second, parts, j + 1)) return found;
        }
      }
    }
    return std::nullopt;
  }
  if (node.IsSequence()) {
    if (IsIndex(parts[i])) {
      size_t index = std::stoul(parts[i]);
      if (index < node.size()) return Find(node[index], parts, i + 1);
      return std::nullopt;
    }
    for (const auto& item : node) {
      if (!item.IsMap()) continue;
      for (const auto& kv : item) {
        if (kv.first.IsScalar() && kv.first.Scalar() == "name" && kv.second.IsScalar() &&
            kv.second.Scalar() == parts[i]) {
          if (auto found = Find(item, parts, i + 1)) return found;
        }
      }
    }
  }
  return std::nullopt;
}

json ScalarToJson(const YAML::Node& n) {
  const std::string& s = n.Scalar();
  if (n.Tag() != "!") {  // plain (unquoted) scalars get their YAML type
    if (s == "true" || s == "True" || s == "TRUE") return true;
    if (s == "false" || s == "False" || s == "FALSE") return false;
    if (s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
    errno = 0;
    char* end = nullptr;
    long long i = std::strtoll(s.c_str(), &end, 10);
    if (!s.empty() && end == s.c_str() + s.size() && errno == 0) return i;
    end = nullptr;
    double d = std::strtod(s.c_str(), &end);
    if (!s.empty() && end == s.c_str() + s.size() && errno == 0 &&
        (std::isdigit(static_cast<unsigned char>(s[0])) || s[0] == '-' || s[0] == '.')) {
      return d;
    }
  }
  return s;
}

json ToJson(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Scalar:
      return ScalarToJson(n);
    case YAML::NodeType::Sequence: {
      json arr = json::array();
      for (const auto& item : n) arr.push_back(ToJson(item));
      return arr;
    }
    case YAML::NodeType::Map: {
      json obj = json::object();
      for (const auto& kv : n) {
        obj[kv.first.IsScalar() ? kv.first.Scalar() : YAML::Dump(kv.first)] = ToJson(kv.second);
      }
      return obj;
    }
    default:
      return nullptr;
  }
}

// Text form: a scalar as is, a list of scalars comma-separated (the form RINGRIFT_P2P_VOTERS and
// EXTRA_PEERS take), anything else as YAML.
std::string ToText(const YAML::Node& n) {
  if (n.IsScalar()) return n.Scalar();
  if (n.IsSequence()) {
    bool scalars = true;
    for (const auto& item : n) scalars = scalars && item.IsScalar();
    if (scalars) {
      std::string out;
      for (const auto& item : n) out += (out.empty() ? "" : ",") + item.Scalar();
      return out;
    }
  }
  return YAML::Dump(n);
}

int RunConfigGet(Context& ctx, const ConfigGetOptions& opts) {
  const std::string& key = opts.key;
  std::vector<std::string> parts = SplitKey(key);
  for (const auto& p : parts) {
    if (p.empty()) {
      ctx.err << "riftctl: config get: bad key '" << key
              << "': expected a dotted path such as hosts.<node-id>.ssh_port\n";
      return kExitUsage;
    }
  }

  // Same default as the daemon: --hosts-file, else RINGRIFT_HOSTS_FILE, else
  // $RINGRIFT_DIR/config/distributed_hosts.yaml. A named file must exist; a missing default
  // file simply sets nothing.
  std::string path = opts.hosts_yaml;
  bool named = !path.empty();
  if (path.empty() && !ctx.Env("RINGRIFT_HOSTS_FILE").empty()) {
    path = ctx.Env("RINGRIFT_HOSTS_FILE");
    named = true;
  }
  if (path.empty()) {
    std::string dir = ctx.Env("RINGRIFT_DIR").empty() ? "." : ctx.Env("RINGRIFT_DIR");
    path = dir + "/config/distributed_hosts.yaml";
  }

  std::optional<YAML::Node> found;
  std::ifstream in(path);
  if (!in) {
    const int error = errno;
    if (named || error != ENOENT) {
      ctx.err << "riftctl: cannot read " << path << ": " << std::strerror(error) << '\n';
      return kExitUsage;
    }
  } else {
    try {
      YAML::Node doc = YAML::Load(in);
      found = Find(doc, parts, 0);
    } catch (const YAML::Exception& e) {
      ctx.err << "riftctl: " << path << ':' << e.mark.line + 1 << ": " << e.msg << '\n';
      return kExitUsage;
    }
  }
  if (found && found->IsNull()) found.reset();  // `key:` with nothing is not a value
  if (!found) {
    if (opts.has_default) {
      ctx.out << (ctx.json() ? json(opts.default_value).dump() : opts.default_value) << '\n';
      return kExitOk;
    }
    ctx.err << "riftctl: " << key << " is not set in " << path << '\n';
    return kExitRemote;
  }
  if (ctx.json()) {
    ctx.out << ToJson(*found).dump(2) << '\n';
  } else {
    std::string text = ToText(*found);
    ctx.out << text << (text.empty() || text.back() != '\n' ? "\n" : "");
  }
  return kExitOk;
}

}  // namespace

void RegisterConfigCommands(CLI::App& app, Commands& commands) {
  CLI::App* config = app.add_subcommand("config", "Node configuration");
  config->require_subcommand(1);
  auto opts = std::make_shared<ConfigCheckOptions>();
  CLI::App* check = config->add_subcommand(
      "check", "Check node.conf, distributed_hosts.yaml and the environment; report every problem");
  check->add_option("--config", opts->node_conf,
                    "node.conf to check (default: /etc/ringrift/node.conf when present)");
  check->add_option(
      "--hosts", opts->hosts_yaml,
      "distributed_hosts.yaml (default: $RINGRIFT_DIR/config/distributed_hosts.yaml)");
  commands.Add(check, [opts](Context& ctx) { return RunConfigCheck(ctx, *opts); });

  auto get_opts = std::make_shared<ConfigGetOptions>();
  CLI::App* get = config->add_subcommand(
      "get", "Print one value of distributed_hosts.yaml (exit 1 and nothing on stdout when unset)");
  get->add_option("key", get_opts->key,
                  "Dotted path, e.g. hosts.<node-id>.ssh_port, p2p_voters, sync.interval_s, "
                  "file_classes.<name>.replication")
      ->required();
  get->add_option("--hosts-file,--hosts", get_opts->hosts_yaml,
                  "distributed_hosts.yaml (default: $RINGRIFT_HOSTS_FILE, else "
                  "$RINGRIFT_DIR/config/distributed_hosts.yaml)");
  get->add_option("--default", get_opts->default_value,
                  "Print this (exit 0) when the key is not set or the default file is absent");
  get->callback([get, get_opts] { get_opts->has_default = get->count("--default") > 0; });
  commands.Add(get, [get_opts](Context& ctx) { return RunConfigGet(ctx, *get_opts); });
}

}  // namespace rift::cli
