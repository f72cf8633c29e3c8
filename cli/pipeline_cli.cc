#include "cli/pipeline_cli.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <vector>

#include "orchestrator/base/time.h"

namespace rift::cli {
namespace {

// Plain lines: phase boundaries always, a host's update when it differs from the last one
// printed and at least kQuiet has passed (the last update is flushed at the end of a phase).
class LineProgress : public pipeline::Progress {
 public:
  explicit LineProgress(std::ostream& out) : out_(out) {}

  void PhaseStart(const std::string& phase, const std::vector<std::string>& hosts) override {
    std::string list;
    for (const auto& h : hosts) list += (list.empty() ? "" : ", ") + h;
    out_ << "== " << phase << " (" << list << ")\n" << std::flush;
    last_.clear();
  }
  void Host(const std::string& phase, const std::string& host, const std::string& text) override {
    Entry& e = last_[host];
    const TimePoint now = Clock::now();
    e.pending = text;
    if (text == e.printed) return;
    if (e.printed_at != TimePoint{} && now - e.printed_at < kQuiet) return;
    Print(phase, host, &e, now);
  }
  void PhaseEnd(const std::string& phase, const std::string& status,
                const std::string& detail) override {
    for (auto& [host, e] : last_) {
      if (e.pending != e.printed) Print(phase, host, &e, Clock::now());
    }
    out_ << "== " << phase << " " << status << (detail.empty() ? "" : ": " + detail) << "\n"
         << std::flush;
  }
  void Note(const std::string& text) override { out_ << "   " << text << "\n" << std::flush; }

 private:
  static constexpr Duration kQuiet = seconds(5);
  struct Entry {
    std::string printed, pending;
    TimePoint printed_at{};
  };
  void Print(const std::string& phase, const std::string& host, Entry* e, TimePoint now) {
    out_ << "   " << phase << " " << host << ": " << e->pending << "\n" << std::flush;
    e->printed = e->pending;
    e->printed_at = now;
  }
  std::ostream& out_;
  std::map<std::string, Entry> last_;
};

// A block per phase: a header and one line per host, redrawn in place with ANSI codes.
class TerminalProgress : public pipeline::Progress {
 public:
  TerminalProgress(std::ostream& out, int columns) : out_(out), columns_(std::max(columns, 20)) {}

  void PhaseStart(const std::string& phase, const std::vector<std::string>& hosts) override {
    phase_ = phase;
    rows_.clear();
    for (const auto& h : hosts) rows_.push_back({h, "..."});
    drawn_ = 0;
    Draw();
  }
  void Host(const std::string&, const std::string& host, const std::string& text) override {
    bool found = false;
    for (auto& r : rows_) {
      if (r.first == host) {
        r.second = text;
        found = true;
      }
    }
    if (!found) rows_.push_back({host, text});
    Draw();
  }
  void PhaseEnd(const std::string& phase, const std::string& status,
                const std::string& detail) override {
    status_ = status + (detail.empty() ? "" : ": " + detail);
    Draw();
    status_.clear();
    drawn_ = 0;  // the finished block stays on screen
  }
  void Note(const std::string& text) override {
    Erase();
    out_ << "   " << text << "\n";
    drawn_ = 0;
    Draw();
  }

 private:
  void Erase() {
    for (int i = 0; i < drawn_; ++i) out_ << "\033[1A\r\033[2K";
  }
  void Draw() {
    Erase();
    size_t width = 0;
    for (const auto& r : rows_) width = std::max(width, r.first.size());
    out_ << "\r\033[2K== " << phase_ << (status_.empty() ? " ..." : " " + status_) << "\n";
    for (const auto& r : rows_) {
      out_ << "\r\033[2K   " << r.first << std::string(width - r.first.size() + 2, ' ') << r.second
           << "\n";
    }
    drawn_ = static_cast<int>(rows_.size()) + 1;
    out_ << std::flush;
  }
  std::string Fit(const std::string& line) const {
    const size_t max = static_cast<size_t>(columns_ - 1);
    return line.size() <= max ? line : line.substr(0, max - 3) + "...";
  }
  std::ostream& out_;
  int columns_;
  std::string phase_, status_;
  std::vector<std::pair<std::string, std::string>> rows_;
  int drawn_ = 0;
};

}  // namespace

Result<settings::Settings> LoadClusterSettings(Context& ctx, const ClusterFlags& flags) {
  settings::Sources sources;
  sources.env = ctx.env;
  sources.require_node_id = false;
  if (!flags.node_conf.empty()) sources.node_conf_path = flags.node_conf;
  if (!flags.hosts_yaml.empty()) sources.hosts_yaml_path = flags.hosts_yaml;
  std::vector<settings::Problem> problems;
  Result<settings::Settings> s = settings::Load(sources, &problems);
  for (const auto& p : problems) ctx.err << p.ToString() << '\n';
  return s;
}

std::string KnownHostsFile(const Context& ctx, const ClusterFlags& flags,
                           const settings::Settings& s) {
  if (!flags.known_hosts.empty()) return flags.known_hosts;
  if (!s.pipeline.known_hosts.empty()) return pipeline::ExpandHome(s.pipeline.known_hosts);
  std::string home = ctx.Env("HOME");
  return (home.empty() ? pipeline::ExpandHome("~") : home) + "/.ssh/known_hosts";
}

pipeline::SshOptions SshOptionsFor(const settings::Host& host, const std::string& known_hosts,
                                   std::chrono::seconds connect_timeout) {
  pipeline::SshOptions o;
  o.host_id = host.id;
  o.address = host.ssh_host;
  o.port = host.ssh_port;
  o.user = host.ssh_user;
  o.key_file = host.ssh_key;
  o.known_hosts = known_hosts;
  o.connect_timeout = connect_timeout;
  return o;
}

int PipelineExitCode(const Status& status) {
  switch (status.code()) {
    case Code::kOk:
      return kExitOk;
    case Code::kInvalidArgument:
      return kExitUsage;
    case Code::kUnavailable:
      return kExitUnreachable;
    default:
      return kExitRemote;
  }
}

std::unique_ptr<pipeline::Progress> MakeProgress(std::ostream& out, int terminal_fd) {
  winsize ws{};
  if (terminal_fd >= 0 && isatty(terminal_fd)) {
    int columns = ioctl(terminal_fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col : 100;
    return std::make_unique<TerminalProgress>(out, columns);
  }
  return std::make_unique<LineProgress>(out);
}

std::string SelfDir() {
  std::error_code ec;
  std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : exe.parent_path().string();
}

}  // namespace rift::cli
