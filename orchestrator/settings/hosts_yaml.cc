// distributed_hosts.yaml. yaml-cpp is confined to this file; its exceptions are caught here.
// Strict: unknown keys and wrong types are errors (a typo in a cluster file should not silently
// change who votes), except the sections later modules own, which are skipped.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <functional>
#include <set>
#include <string>

#include "orchestrator/settings/internal.h"

namespace rift::settings::internal {
namespace {

// Every top-level section has a parser; none is accepted unread.
const std::set<std::string> kOtherSections = {};
const std::vector<std::string> kTopKeys = {
    "hosts",        "p2p_voters", "preferred_leader", "leader_mode", "timers",   "jobs",
    "file_classes", "sync",       "cleanup",          "watchdog",    "pipeline", "improvement"};
const std::vector<std::string> kTimerKeys = {
    "profile",          "probe_interval_ms", "probe_timeout_ms", "suspicion_min_ms",
    "suspicion_max_ms", "dead_reap_ttl_ms",  "heartbeat_ms",     "election_timeout_ms"};

int LineOf(const YAML::Node& n) { return n.Mark().line + 1; }  // yaml-cpp lines are 0-based

const char* TypeName(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
      return "nothing";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    default:
      return "an undefined value";
  }
}

// Converts one value, reporting type errors against `key` at the value's line.
class Reader {
 public:
  Reader(std::string path, std::vector<Problem>* problems)
      : path_(std::move(path)), problems_(problems) {}

  void Error(const YAML::Node& at, const std::string& key, const std::string& msg) {
    problems_->push_back(MakeError(path_, LineOf(at), key, msg));
  }

  bool String(const YAML::Node& n, const std::string& key, std::string* out) {
    if (n.IsNull()) return true;  // `key:` with nothing: leave the default
    if (!n.IsScalar()) {
      Error(n, key, std::string("expected a string, got ") + TypeName(n));
      return false;
    }
    *out = n.Scalar();
    return true;
  }

  template <typename T>
  bool Number(const YAML::Node& n, const std::string& key, const char* what, T lo, T hi, T* out) {
    if (n.IsNull()) return true;
    T v{};
    try {
      if (!n.IsScalar()) throw YAML::Exception(n.Mark(), "not a scalar");
      v = n.as<T>();
    } catch (const YAML::Exception&) {
      Error(n, key,
            std::string("expected ") + what + ", got " +
                (n.IsScalar() ? "'" + n.Scalar() + "'" : TypeName(n)));
      return false;
    }
    if (v < lo || v > hi) {
      Error(n, key, "out of range: " + n.Scalar());
      return false;
    }
    *out = v;
    return true;
  }

  bool Bool(const YAML::Node& n, const std::string& key, bool* out) {
    if (n.IsNull()) return true;
    try {
      if (!n.IsScalar()) throw YAML::Exception(n.Mark(), "not a scalar");
      *out = n.as<bool>();
      return true;
    } catch (const YAML::Exception&) {
      Error(n, key,
            std::string("expected true or false, got ") +
                (n.IsScalar() ? "'" + n.Scalar() + "'" : TypeName(n)));
      return false;
    }
  }

  bool StringList(const YAML::Node& n, const std::string& key, std::vector<std::string>* out) {
    if (n.IsNull()) return true;
    if (!n.IsSequence()) {
      Error(n, key, std::string("expected a list, got ") + TypeName(n));
      return false;
    }
    std::vector<std::string> items;
    for (const auto& item : n) {
      if (!item.IsScalar()) {
        Error(item, key, std::string("expected a list of strings, found ") + TypeName(item));
        return false;
      }
      items.push_back(item.Scalar());
    }
    *out = std::move(items);
    return true;
  }

  // Calls fn(key, value) per entry of a map, reporting duplicate keys (yaml-cpp keeps them
  // silently and lookups would see only the first).
  bool ForEachEntry(
      const YAML::Node& map, const std::string& where,
      const std::function<void(const std::string&, const YAML::Node&, const YAML::Node&)>& fn) {
    if (map.IsNull()) return true;
    if (!map.IsMap()) {
      Error(map, where, std::string("expected a map, got ") + TypeName(map));
      return false;
    }
    std::map<std::string, int> seen;
    for (const auto& kv : map) {
      if (!kv.first.IsScalar()) {
        Error(kv.first, where, "keys must be plain strings");
        continue;
      }
      const std::string& k = kv.first.Scalar();
      auto [it, fresh] = seen.emplace(k, LineOf(kv.first));
      if (!fresh) {
        Error(kv.first, where.empty() ? k : where + "." + k,
              "duplicate key (first at line " + std::to_string(it->second) + ")");
        continue;
      }
      fn(k, kv.first, kv.second);
    }
    return true;
  }

  void UnknownKey(const YAML::Node& at, const std::string& full, const std::string& key,
                  const std::vector<std::string>& known) {
    Error(at, full, "unknown key" + DidYouMean(key, known));
  }

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::vector<Problem>* problems_;
};

// One reader per `hosts.<id>` field: the table is the schema (and the list of known keys).
using FieldReader = std::function<void(Reader&, const YAML::Node&, const std::string&, Host*)>;
const std::vector<std::pair<std::string, FieldReader>>& HostFields() {
  static const std::vector<std::pair<std::string, FieldReader>> kFields = {
      {"ssh_host", [](Reader& r, auto& v, auto& k, Host* h) { r.String(v, k, &h->ssh_host); }},
      {"ssh_user", [](Reader& r, auto& v, auto& k, Host* h) { r.String(v, k, &h->ssh_user); }},
      {"ssh_port", [](Reader& r, auto& v, auto& k,
                      Host* h) { r.Number(v, k, "a port number", 1, 65535, &h->ssh_port); }},
      {"ssh_key", [](Reader& r, auto& v, auto& k, Host* h) { r.String(v, k, &h->ssh_key); }},
      {"ringrift_path",
       [](Reader& r, auto& v, auto& k, Host* h) { r.String(v, k, &h->ringrift_path); }},
      {"venv_activate",
       [](Reader& r, auto& v, auto& k, Host* h) { r.String(v, k, &h->venv_activate); }},
      {"memory_gb", [](Reader& r, auto& v, auto& k,
                       Host* h) { r.Number(v, k, "a number", 0.0, 1e9, &h->memory_gb); }},
      {"cpus", [](Reader& r, auto& v, auto& k,
                  Host* h) { r.Number(v, k, "an integer", 0, 1 << 20, &h->cpus); }},
      {"gpu", [](Reader& r, auto& v, auto& k, Host* h) { r.String(v, k, &h->gpu); }},
      {"role", [](Reader& r, auto& v, auto& k, Host* h) { r.String(v, k, &h->role); }},
      {"status",
       [](Reader& r, auto& v, auto& k, Host* h) {
         if (r.String(v, k, &h->status) && h->status != "ready" && h->status != "disabled" &&
             h->status != "maintenance") {
           r.Error(v, k, "expected ready, disabled or maintenance, got '" + h->status + "'");
         }
       }},
      {"capabilities",
       [](Reader& r, auto& v, auto& k, Host* h) { r.StringList(v, k, &h->capabilities); }},
      {"max_parallel_jobs",
       [](Reader& r, auto& v, auto& k, Host* h) {
         r.Number(v, k, "an integer", 0, 1 << 20, &h->max_parallel_jobs);
       }},
      {"p2p_voter", [](Reader& r, auto& v, auto& k, Host* h) { r.Bool(v, k, &h->p2p_voter); }},
      {"nat_blocked", [](Reader& r, auto& v, auto& k, Host* h) { r.Bool(v, k, &h->nat_blocked); }},
      {"p2p_url",
       [](Reader& r, auto& v, auto& k, Host* h) {
         if (!r.String(v, k, &h->p2p_url)) return;
         h->p2p_url = NormalizeUrl(h->p2p_url);
         if (!h->p2p_url.empty() && !IsValidUrl(h->p2p_url)) {
           r.Error(v, k, "expected http(s)://host:port, got '" + h->p2p_url + "'");
         }
       }},
  };
  return kFields;
}

void ParseHost(Reader& r, const std::string& id, const YAML::Node& key_node, const YAML::Node& body,
               Host* h) {
  static const std::vector<std::string> kHostKeys = [] {
    std::vector<std::string> keys;
    for (const auto& f : HostFields()) keys.push_back(f.first);
    return keys;
  }();
  h->id = id;
  h->line = LineOf(key_node);
  const std::string prefix = "hosts." + id;
  if (!IsValidId(id)) r.Error(key_node, prefix, "invalid host id (use [A-Za-z0-9._-], 1-64)");
  r.ForEachEntry(
      body, prefix, [&](const std::string& k, const YAML::Node& kn, const YAML::Node& v) {
        const auto& fields = HostFields();
        auto it =
            std::find_if(fields.begin(), fields.end(), [&](const auto& f) { return f.first == k; });
        if (it == fields.end()) {
          r.UnknownKey(kn, prefix + "." + k, k, kHostKeys);
        } else {
          it->second(r, v, prefix + "." + k, h);
        }
      });
  if (h->p2p_url.empty() && !h->ssh_host.empty()) {
    h->p2p_url = HttpUrl(h->ssh_host, kDefaultP2pPort);
  }
}

void ParseTimers(Reader& r, const YAML::Node& body, Layer* values) {
  r.ForEachEntry(
      body, "timers", [&](const std::string& k, const YAML::Node& kn, const YAML::Node& v) {
        const std::string key = "timers." + k;
        if (std::find(kTimerKeys.begin(), kTimerKeys.end(), k) == kTimerKeys.end()) {
          r.UnknownKey(kn, key, k, kTimerKeys);
          return;
        }
        std::string canonical = "RINGRIFT_";
        for (char c : (k == "profile" ? std::string("timer_profile") : k)) {
          canonical += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        }
        std::string text;
        if (k == "profile") {
          if (!r.String(v, key, &text)) return;
        } else {
          int ms = 0;
          if (v.IsNull() || !r.Number(v, key, "milliseconds (an integer)", 1, 86'400'000, &ms))
            return;
          text = std::to_string(ms);
        }
        (*values)[canonical] = Value{text, r.path(), LineOf(v.IsNull() ? kn : v), key};
      });
}

// `file_classes:` entries: the table is the schema.
using ClassReader =
    std::function<void(Reader&, const YAML::Node&, const std::string&, FileClassConfig*)>;
const std::vector<std::pair<std::string, ClassReader>>& ClassFields() {
  static const std::vector<std::pair<std::string, ClassReader>> kFields = {
      {"name",
       [](Reader& r, auto& v, auto& k, FileClassConfig* c) {
         if (r.String(v, k, &c->name) && !IsValidId(c->name)) {
           r.Error(v, k, "invalid class name '" + c->name + "' (use [A-Za-z0-9._-], 1-64)");
         }
       }},
      {"prefixes",
       [](Reader& r, auto& v, auto& k, FileClassConfig* c) {
         if (!r.StringList(v, k, &c->prefixes)) return;
         for (const auto& p : c->prefixes) {
           bool bad = p.empty() || p.front() == '/' || p.find('\\') != std::string::npos ||
                      ("/" + p + "/").find("/../") != std::string::npos ||
                      ("/" + p + "/").find("/./") != std::string::npos;
           if (bad) r.Error(v, k, "prefix '" + p + "' must be a relative path inside data/");
         }
       }},
      {"replication",
       [](Reader& r, auto& v, auto& k, FileClassConfig* c) {
         r.Number(v, k, "an integer (copies, at least 1)", 1, 1000, &c->replication);
       }},
      {"training_needs_all", [](Reader& r, auto& v, auto& k,
                                FileClassConfig* c) { r.Bool(v, k, &c->training_needs_all); }},
      {"protect",
       [](Reader& r, auto& v, auto& k, FileClassConfig* c) { r.Bool(v, k, &c->protect); }},
      {"cleanup_rank",
       [](Reader& r, auto& v, auto& k, FileClassConfig* c) {
         r.Number(v, k, "an integer", 0, 1'000'000, &c->cleanup_rank);
       }},
  };
  return kFields;
}

void ParseFileClasses(Reader& r, const YAML::Node& list, std::vector<FileClassConfig>* out) {
  static const std::vector<std::string> kClassKeys = [] {
    std::vector<std::string> keys;
    for (const auto& f : ClassFields()) keys.push_back(f.first);
    return keys;
  }();
  if (list.IsNull()) return;
  if (!list.IsSequence()) {
    r.Error(list, "file_classes", std::string("expected a list of classes, got ") + TypeName(list));
    return;
  }
  std::map<std::string, int> names;
  for (size_t i = 0; i < list.size(); ++i) {
    const YAML::Node item = list[i];
    const std::string prefix = "file_classes[" + std::to_string(i) + "]";
    if (!item.IsMap()) {
      r.Error(item, prefix, std::string("expected a map, got ") + TypeName(item));
      continue;
    }
    FileClassConfig c;
    c.line = LineOf(item);
    r.ForEachEntry(item, prefix,
                   [&](const std::string& k, const YAML::Node& kn, const YAML::Node& v) {
                     const auto& fields = ClassFields();
                     auto it = std::find_if(fields.begin(), fields.end(),
                                            [&](const auto& f) { return f.first == k; });
                     if (it == fields.end()) {
                       r.UnknownKey(kn, prefix + "." + k, k, kClassKeys);
                     } else {
                       it->second(r, v, prefix + "." + k, &c);
                     }
                   });
    if (c.name.empty()) {
      r.Error(item, prefix + ".name", "every file class needs a name");
      continue;
    }
    if (c.prefixes.empty()) r.Error(item, prefix + ".prefixes", "needs at least one prefix");
    auto [it, fresh] = names.emplace(c.name, c.line);
    if (!fresh) {
      r.Error(
          item, prefix + ".name",
          "duplicate class '" + c.name + "' (first at line " + std::to_string(it->second) + ")");
      continue;
    }
    out->push_back(std::move(c));
  }
}

// `sync:` and `cleanup:`. Keys with an environment override go to `values` as text under their
// canonical names (the loader converts and validates them there); the rest are set directly.
void ParseSync(Reader& r, const YAML::Node& body, SyncSettings* sync, Layer* values) {
  static const std::vector<std::string> kKeys = {
      "interval_s",           "quiet_period_s",   "max_concurrent_transfers",
      "bandwidth_limit_mbps", "small_file_bytes", "part_max_age_s",
      "cpu_priority"};
  r.ForEachEntry(
      body, "sync", [&](const std::string& k, const YAML::Node& kn, const YAML::Node& v) {
        const std::string key = "sync." + k;
        if (k == "interval_s" || k == "quiet_period_s") {
          int s = 0;
          if (!v.IsNull() && r.Number(v, key, "seconds (an integer)", 1, 7 * 86'400, &s)) {
            (*values)[k == "interval_s" ? "RINGRIFT_SYNC_INTERVAL_S" : "RINGRIFT_QUIET_PERIOD_S"] =
                Value{std::to_string(s), r.path(), LineOf(v), key};
          }
        } else if (k == "max_concurrent_transfers") {
          r.Number(v, key, "an integer", 1, 1024, &sync->max_concurrent_transfers);
        } else if (k == "bandwidth_limit_mbps") {
          r.Number(v, key, "an integer (Mbit/s, 0 = no cap)", 0, 1'000'000,
                   &sync->bandwidth_limit_mbps);
        } else if (k == "small_file_bytes") {
          r.Number<uint64_t>(v, key, "an integer (bytes)", 0, uint64_t{1} << 30,
                             &sync->small_file_bytes);
        } else if (k == "cpu_priority") {
          std::string s;
          if (r.String(v, key, &s)) {
            (*values)["RINGRIFT_SYNC_CPU_PRIORITY"] = Value{s, r.path(), LineOf(v), key};
          }
        } else if (k == "part_max_age_s") {
          int s = 0;
          if (r.Number(v, key, "seconds (an integer)", 60, 365 * 86'400, &s)) {
            sync->part_max_age = std::chrono::seconds(s);
          }
        } else {
          r.UnknownKey(kn, key, k, kKeys);
        }
      });
}

void ParseCleanup(Reader& r, const YAML::Node& body, CleanupSettings* cleanup, Layer* values) {
  static const std::vector<std::string> kKeys = {"high_watermark", "low_watermark", "interval_s"};
  r.ForEachEntry(
      body, "cleanup", [&](const std::string& k, const YAML::Node& kn, const YAML::Node& v) {
        const std::string key = "cleanup." + k;
        if (k == "high_watermark" || k == "low_watermark") {
          double f = 0;
          if (!v.IsNull() && r.Number(v, key, "a fraction", 0.0, 1.0, &f)) {
            (*values)[k == "high_watermark" ? "RINGRIFT_CLEANUP_HIGH_WATERMARK"
                                            : "RINGRIFT_CLEANUP_LOW_WATERMARK"] =
                Value{v.Scalar(), r.path(), LineOf(v), key};
          }
        } else if (k == "interval_s") {
          int s = 0;
          if (r.Number(v, key, "seconds (an integer)", 1, 7 * 86'400, &s) && !v.IsNull()) {
            cleanup->interval = std::chrono::seconds(s);
          }
        } else {
          r.UnknownKey(kn, key, k, kKeys);
        }
      });
}

// `jobs:`. Templates are checked for syntax here (a placeholder's value is only known per
// request: an unknown name is the request's 400, not a load error).
bool CheckTemplate(Reader& r, const YAML::Node& at, const std::string& key,
                   const std::string& text) {
  auto pieces = SplitTemplate(text);
  if (!pieces.ok()) r.Error(at, key, pieces.status().message());
  return pieces.ok();
}

bool IsParamName(const std::string& n) {
  return !n.empty() && n.size() <= 64 && std::all_of(n.begin(), n.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

bool IsEnvName(const std::string& n) {
  return !n.empty() && !std::isdigit(static_cast<unsigned char>(n[0])) &&
         std::all_of(n.begin(), n.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
         });
}

void ParseArgv(Reader& r, const YAML::Node& v, const std::string& key, JobKind* kind) {
  if (!v.IsSequence() || v.size() == 0) {
    r.Error(v, key, std::string("expected a non-empty list of words, got ") + TypeName(v));
    return;
  }
  for (size_t i = 0; i < v.size(); ++i) {
    const YAML::Node item = v[i];
    const std::string at = key + "[" + std::to_string(i) + "]";
    JobArg arg;
    if (item.IsScalar()) {
      arg.words.push_back(item.Scalar());
    } else if (item.IsSequence() && item.size() > 0) {
      arg.optional = true;
      if (!r.StringList(item, at, &arg.words)) continue;
    } else {
      r.Error(item, at,
              std::string("expected a word or an optional group (a list of words), got ") +
                  TypeName(item));
      continue;
    }
    if (i == 0 && arg.optional) r.Error(item, at, "the program (first word) cannot be optional");
    bool ok = true;
    for (const auto& w : arg.words) ok = CheckTemplate(r, item, at, w) && ok;
    if (ok) kind->argv.push_back(std::move(arg));
  }
}

void ParseStringMap(Reader& r, const YAML::Node& v, const std::string& key,
                    bool (*valid_name)(const std::string&), const char* name_rule, bool templates,
                    std::map<std::string, std::string>* out) {
  r.ForEachEntry(v, key, [&](const std::string& k, const YAML::Node& kn, const YAML::Node& val) {
    const std::string at = key + "." + k;
    if (!valid_name(k)) {
      r.Error(kn, at, std::string("invalid name (use ") + name_rule + ")");
      return;
    }
    std::string text;
    if (val.IsNull() || !r.String(val, at, &text)) {
      if (val.IsNull()) r.Error(kn, at, "expected a value");
      return;
    }
    if (templates && !CheckTemplate(r, val, at, text)) return;
    (*out)[k] = text;
  });
}

// A relative path template inside the data root: no absolute path, no "..".
void CheckRelativeDir(Reader& r, const YAML::Node& v, const std::string& key,
                      const std::string& dir) {
  if (!CheckTemplate(r, v, key, dir)) return;
  if (!dir.empty() && (dir.front() == '/' || ("/" + dir + "/").find("/../") != std::string::npos)) {
    r.Error(v, key, "'" + dir + "' must be a relative path inside data/ (no leading '/', no '..')");
  }
}

void ParseJobKind(Reader& r, const std::string& name, const YAML::Node& kn, const YAML::Node& body,
                  JobKind* kind) {
  static const std::vector<std::string> kKeys = {"argv", "env",       "gpus",         "out_dir",
                                                 "cwd",  "timeout_s", "max_per_node", "params"};
  kind->name = name;
  kind->line = LineOf(kn);
  const std::string prefix = "jobs.catalogue." + name;
  if (!IsValidId(name)) r.Error(kn, prefix, "invalid kind name (use [A-Za-z0-9._-], 1-64)");
  bool has_argv = false;
  r.ForEachEntry(
      body, prefix, [&](const std::string& k, const YAML::Node& ckn, const YAML::Node& v) {
        const std::string key = prefix + "." + k;
        if (k == "argv") {
          has_argv = true;
          ParseArgv(r, v, key, kind);
        } else if (k == "env") {
          ParseStringMap(r, v, key, IsEnvName, "[A-Za-z_][A-Za-z0-9_]*", true, &kind->env);
        } else if (k == "params") {
          ParseStringMap(r, v, key, IsParamName, "[A-Za-z0-9_]+", true, &kind->params);
        } else if (k == "gpus") {
          r.Number(v, key, "an integer (GPUs per job)", 0, 64, &kind->gpus);
        } else if (k == "out_dir") {
          if (r.String(v, key, &kind->out_dir)) CheckRelativeDir(r, v, key, kind->out_dir);
        } else if (k == "cwd") {
          if (r.String(v, key, &kind->cwd)) CheckTemplate(r, v, key, kind->cwd);
        } else if (k == "timeout_s") {
          int s = 0;
          if (r.Number(v, key, "seconds (an integer, 0 = none)", 0, 30 * 86'400, &s)) {
            kind->timeout = std::chrono::seconds(s);
          }
        } else if (k == "max_per_node") {
          r.Number(v, key, "an integer (0 = no per-kind cap)", 0, 1 << 20, &kind->max_per_node);
        } else {
          r.UnknownKey(ckn, key, k, kKeys);
        }
      });
  if (!has_argv) r.Error(kn, prefix + ".argv", "every job kind needs an argv");
}

void ParseJobs(Reader& r, const YAML::Node& body, JobsSettings* jobs) {
  static const std::vector<std::string> kKeys = {"max_jobs", "stop_grace_s", "log_cap_bytes",
                                                 "catalogue"};
  r.ForEachEntry(
      body, "jobs", [&](const std::string& k, const YAML::Node& kn, const YAML::Node& v) {
        const std::string key = "jobs." + k;
        if (k == "max_jobs") {
          r.Number(v, key, "an integer (0 = number of CPUs)", 0, 4096, &jobs->max_jobs);
        } else if (k == "stop_grace_s") {
          int s = 0;
          if (r.Number(v, key, "seconds (an integer)", 0, 3600, &s) && !v.IsNull()) {
            jobs->stop_grace = std::chrono::seconds(s);
          }
        } else if (k == "log_cap_bytes") {
          r.Number<uint64_t>(v, key, "an integer (bytes, at least 4096)", 4096, uint64_t{1} << 40,
                             &jobs->log_cap_bytes);
        } else if (k == "catalogue") {
          r.ForEachEntry(v, key,
                         [&](const std::string& name, const YAML::Node& nn, const YAML::Node& kb) {
                           JobKind kind;
                           ParseJobKind(r, name, nn, kb, &kind);
                           jobs->catalogue.push_back(std::move(kind));
                         });
        } else {
          r.UnknownKey(kn, key, k, kKeys);
        }
      });
}

// `improvement:`: the table is the schema. `*training_line` gets the line of training_node.
void ParseImprovement(Reader& r, const YAML::Node& body, ImprovementSettings* im,
                      int* training_line) {
  using Field = std::function<void(const YAML::Node&, const std::string&)>;
  auto seconds = [&r](std::chrono::seconds* out, int lo) {
    return [&r, out, lo](const YAML::Node& v, const std::string& k) {
      int s = 0;
      if (!v.IsNull() && r.Number(v, k, "seconds (an integer)", lo, 7 * 86'400, &s)) {
        *out = std::chrono::seconds(s);
      }
    };
  };
  auto integer = [&r](int* out, int lo, int hi) {
    return [&r, out, lo, hi](const YAML::Node& v, const std::string& k) {
      r.Number(v, k, "an integer", lo, hi, out);
    };
  };
  const std::vector<std::pair<std::string, Field>> fields = {
      {"background_selfplay",
       [&](const YAML::Node& v, const std::string& k) { r.Bool(v, k, &im->background_selfplay); }},
      {"scheduler_interval_s", seconds(&im->scheduler_interval, 1)},
      {"selfplay_per_gpu", integer(&im->selfplay_per_gpu, 0, 64)},
      {"cpu_selfplay_max", integer(&im->cpu_selfplay_max, 0, 4096)},
      {"memory_pressure_percent",
       [&](const YAML::Node& v, const std::string& k) {
         r.Number(v, k, "a percentage", 1.0, 100.0, &im->memory_pressure_percent);
       }},
      {"selfplay_games", integer(&im->selfplay_games, 1, 10'000'000)},
      {"poll_interval_s", seconds(&im->poll_interval, 1)},
      {"training_node",
       [&](const YAML::Node& v, const std::string& k) {
         if (r.String(v, k, &im->training_node)) *training_line = LineOf(v);
       }},
      {"iterations", integer(&im->iterations, 1, 10000)},
      {"games_per_iteration", integer(&im->games_per_iteration, 1, 10'000'000)},
      {"eval_games", integer(&im->eval_games, 1, 1'000'000)},
      {"promote_win_rate",
       [&](const YAML::Node& v, const std::string& k) {
         r.Number(v, k, "a fraction", 0.0, 1.0, &im->promote_win_rate);
       }},
      {"board",
       [&](const YAML::Node& v, const std::string& k) {
         std::string b;
         if (!r.String(v, k, &b) || v.IsNull()) return;
         auto x = b.find('x');
         bool ok = x != std::string::npos && x > 0 && x + 1 < b.size() &&
                   b.find_first_not_of("0123456789x") == std::string::npos &&
                   b.find('x', x + 1) == std::string::npos;
         if (!ok) {
           r.Error(v, k, "expected ROWSxCOLS such as 6x7, got '" + b + "'");
         } else {
           im->board = b;
         }
       }},
      {"sync_timeout_s", seconds(&im->sync_timeout, 1)},
      {"distribute_timeout_s", seconds(&im->distribute_timeout, 1)},
      {"max_attempts", integer(&im->max_attempts, 1, 100)},
  };
  std::vector<std::string> keys;
  for (const auto& f : fields) keys.push_back(f.first);
  r.ForEachEntry(body, "improvement",
                 [&](const std::string& k, const YAML::Node& kn, const YAML::Node& v) {
                   const std::string key = "improvement." + k;
                   for (const auto& f : fields) {
                     if (f.first == k) return f.second(v, key);
                   }
                   r.UnknownKey(kn, key, k, keys);
                 });
}

// `pipeline:` (riftctl pipeline run). The step names are checked here so a typo shows up in
// `config check` with its line; the templates' placeholders are checked by the pipeline.
void ParsePipeline(Reader& r, const YAML::Node& key_node, const YAML::Node& body,
                   PipelineSettings* p) {
  static const std::vector<std::string> kKeys = {"commands",          "games",
                                                 "min_games",         "eval_games",
                                                 "promote_threshold", "training_host",
                                                 "selfplay_dir",      "bin_dir",
                                                 "local_bin_dir",     "state_file",
                                                 "known_hosts",       "connect_timeout_s",
                                                 "retries",           "retry_backoff_ms",
                                                 "poll_interval_ms",  "timeouts_s"};
  static const std::vector<std::string> kCommands = {"selfplay", "train", "eval", "eval_baseline",
                                                     "promote"};
  static const std::vector<std::string> kSteps = {"selfplay", "train", "eval", "promote"};
  p->line = LineOf(key_node);
  const std::map<std::string, std::string*> strings = {{"training_host", &p->training_host},
                                                       {"selfplay_dir", &p->selfplay_dir},
                                                       {"bin_dir", &p->bin_dir},
                                                       {"local_bin_dir", &p->local_bin_dir},
                                                       {"state_file", &p->state_file},
                                                       {"known_hosts", &p->known_hosts}};
  r.ForEachEntry(
      body, "pipeline", [&](const std::string& k, const YAML::Node& kn, const YAML::Node& v) {
        const std::string key = "pipeline." + k;
        if (auto it = strings.find(k); it != strings.end()) {
          r.String(v, key, it->second);
        } else if (k == "games") {
          r.Number(v, key, "an integer (games per host)", 1, 100'000'000, &p->games);
        } else if (k == "min_games") {
          r.Number(v, key, "an integer (games, 0 = games x hosts)", 0, 1'000'000'000,
                   &p->min_games);
        } else if (k == "eval_games") {
          r.Number(v, key, "an integer (games)", 1, 100'000'000, &p->eval_games);
        } else if (k == "promote_threshold") {
          r.Number(v, key, "a win rate between 0 and 1", 0.0, 1.0, &p->promote_threshold);
        } else if (k == "connect_timeout_s") {
          int s = 0;
          if (r.Number(v, key, "seconds (an integer)", 1, 3600, &s) && !v.IsNull()) {
            p->connect_timeout = std::chrono::seconds(s);
          }
        } else if (k == "retries") {
          r.Number(v, key, "an integer", 0, 100, &p->retries);
        } else if (k == "retry_backoff_ms" || k == "poll_interval_ms") {
          int ms = 0;
          if (r.Number(v, key, "milliseconds (an integer)", 1, 3'600'000, &ms) && !v.IsNull()) {
            (k == "retry_backoff_ms" ? p->retry_backoff : p->poll_interval) =
                std::chrono::milliseconds(ms);
          }
        } else if (k == "commands") {
          r.ForEachEntry(
              v, key, [&](const std::string& c, const YAML::Node& cn, const YAML::Node& cv) {
                if (std::find(kCommands.begin(), kCommands.end(), c) == kCommands.end()) {
                  r.UnknownKey(cn, key + "." + c, c, kCommands);
                  return;
                }
                std::string text;
                if (r.String(cv, key + "." + c, &text) && !text.empty()) p->commands[c] = text;
              });
        } else if (k == "timeouts_s") {
          r.ForEachEntry(
              v, key, [&](const std::string& step, const YAML::Node& sn, const YAML::Node& sv) {
                if (std::find(kSteps.begin(), kSteps.end(), step) == kSteps.end()) {
                  r.UnknownKey(sn, key + "." + step, step, kSteps);
                  return;
                }
                int s = 0;
                if (r.Number(sv, key + "." + step, "seconds (an integer)", 1, 30 * 86'400, &s) &&
                    !sv.IsNull()) {
                  p->timeouts[step] = std::chrono::seconds(s);
                }
              });
        } else {
          r.UnknownKey(kn, key, k, kKeys);
        }
      });
}

}  // namespace

HostsFile ParseHostsYaml(const std::string& path, std::vector<Problem>* problems) {
  HostsFile out;
  Reader r(path, problems);
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    problems->push_back(MakeError(path, 0, "", "cannot read hosts file"));
    return out;
  } catch (const YAML::ParserException& e) {
    problems->push_back(MakeError(path, e.mark.line + 1, "", "YAML syntax error: " + e.msg));
    return out;
  } catch (const YAML::Exception& e) {
    problems->push_back(MakeError(path, 0, "", std::string("YAML error: ") + e.what()));
    return out;
  }
  if (root.IsNull()) return out;  // an empty file is an empty cluster
  int training_line = 0;
  r.ForEachEntry(root, "", [&](const std::string& k, const YAML::Node& kn, const YAML::Node& v) {
    const int line = LineOf(v.IsNull() ? kn : v);
    if (k == "hosts") {
      r.ForEachEntry(v, "hosts",
                     [&](const std::string& id, const YAML::Node& idn, const YAML::Node& body) {
                       Host h;
                       ParseHost(r, id, idn, body, &h);
                       out.hosts.push_back(std::move(h));
                     });
    } else if (k == "p2p_voters") {
      std::vector<std::string> voters;
      if (!v.IsNull() && r.StringList(v, k, &voters)) {
        std::string joined;
        for (const auto& id : voters) joined += (joined.empty() ? "" : ",") + id;
        out.values["RINGRIFT_P2P_VOTERS"] = Value{joined, path, line, k};
      }
    } else if (k == "preferred_leader" || k == "leader_mode") {
      std::string s;
      if (r.String(v, k, &s)) {
        out.values[k == "leader_mode" ? "RINGRIFT_LEADER_MODE" : "RINGRIFT_PREFERRED_LEADER"] =
            Value{s, path, line, k};
      }
    } else if (k == "timers") {
      ParseTimers(r, v, &out.values);
    } else if (k == "file_classes") {
      ParseFileClasses(r, v, &out.file_classes);
    } else if (k == "sync") {
      ParseSync(r, v, &out.sync, &out.values);
    } else if (k == "cleanup") {
      ParseCleanup(r, v, &out.cleanup, &out.values);
    } else if (k == "jobs") {
      ParseJobs(r, v, &out.jobs);
    } else if (k == "improvement") {
      ParseImprovement(r, v, &out.improvement, &training_line);
    } else if (k == "pipeline") {
      ParsePipeline(r, kn, v, &out.pipeline);
    } else if (k == "watchdog") {
      ParseWatchdogYaml(path, v, &out.values, problems);
    } else if (kOtherSections.count(k) == 0) {
      r.UnknownKey(kn, k, k, kTopKeys);
    }
  });
  if (const std::string& t = out.improvement.training_node; !t.empty()) {
    Settings hosts_only;
    hosts_only.hosts = out.hosts;
    std::vector<std::string> trainers = TrainingNodeIds(hosts_only);
    bool known =
        std::any_of(out.hosts.begin(), out.hosts.end(), [&](const Host& h) { return h.id == t; });
    if (!known) {
      problems->push_back(MakeError(path, training_line, "improvement.training_node",
                                    "'" + t + "' is not a host of this file"));
    } else if (std::find(trainers.begin(), trainers.end(), t) == trainers.end()) {
      problems->push_back(
          MakeError(path, training_line, "improvement.training_node",
                    "host '" + t +
                        "' is not a training node (give it role nn_training or all): the "
                        "training sync would never send it the data"));
    }
  }
  return out;
}

}  // namespace rift::settings::internal
