#include "orchestrator/pipeline/steps.h"

#include <charconv>
#include <sstream>

#include "orchestrator/pipeline/hashing.h"
#include "orchestrator/pipeline/template.h"

namespace rift::pipeline {
namespace {

constexpr std::string_view kOutputMarker = "--rift-step-stderr--";
constexpr std::string_view kShaCmd =
    "if command -v sha256sum >/dev/null 2>&1; then S='sha256sum'; else S='shasum -a 256'; fi\n";

std::optional<int64_t> ToInt(std::string_view s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string_view TrimView(std::string_view s) {
  while (!s.empty() &&
         (s.front() == ' ' || s.front() == '\n' || s.front() == '\r' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

}  // namespace

std::string LaunchScript(const std::string& step_dir, const std::string& workdir,
                         const std::string& command) {
  const std::string d = ShellQuote(step_dir);
  std::ostringstream s;
  s << "set -e\n"
    << "D=" << d << "\n"
    << "mkdir -p \"$D\"\n"
    << "if ( set -C; : > \"$D/launched\" ) 2>/dev/null; then\n"
    // The command goes into a file: no second level of quoting. The heredoc delimiter is
    // quoted so nothing in the command is expanded while writing it.
    << "cat > \"$D/run.sh\" <<'RIFT_STEP_EOF'\n"
    << "cd " << ShellQuote(workdir) << " || exit 97\n"
    << "( " << command << "\n)\n"
    << "rc=$?\n"
    << "echo \"$rc\" > \"$RIFT_STEP_DIR/exit.tmp\" && mv -f \"$RIFT_STEP_DIR/exit.tmp\" "
       "\"$RIFT_STEP_DIR/exit\"\n"
    << "RIFT_STEP_EOF\n"
    << "S=; if command -v setsid >/dev/null 2>&1; then S=setsid; fi\n"
    << "RIFT_STEP_DIR=\"$D\" nohup $S sh \"$D/run.sh\" > \"$D/out\" 2> \"$D/err\" < /dev/null &\n"
    << "echo $! > \"$D/pid\"\n"
    << "echo \"launched $!\"\n"
    << "else\n"
    << "echo \"attached $(cat \"$D/pid\" 2>/dev/null || echo 0)\"\n"
    << "fi\n";
  return s.str();
}

std::string_view LastLine(std::string_view out) {
  out = TrimView(out);
  size_t nl = out.rfind('\n');
  return nl == std::string_view::npos ? out : out.substr(nl + 1);
}

Result<LaunchReply> ParseLaunch(std::string_view out) {
  std::string_view line = LastLine(out);
  LaunchReply r;
  std::string_view rest;
  if (line.rfind("launched ", 0) == 0) {
    r.fresh = true;
    rest = line.substr(9);
  } else if (line.rfind("attached ", 0) == 0) {
    rest = line.substr(9);
  } else {
    return Internal("unexpected launch reply: '" + std::string(line) + "'");
  }
  auto pid = ToInt(TrimView(rest));
  if (!pid) return Internal("unexpected launch reply: '" + std::string(line) + "'");
  r.pid = *pid;
  return r;
}

std::string ProbeScript(const std::string& step_dir, const std::string& games_dir) {
  std::ostringstream s;
  s << "D=" << ShellQuote(step_dir) << "\n"
    << "l=0; [ -e \"$D/launched\" ] && l=1\n"
    << "p=$(cat \"$D/pid\" 2>/dev/null || true)\n"
    << "a=0; if [ -n \"$p\" ] && kill -0 \"$p\" 2>/dev/null; then a=1; fi\n"
    // Read the exit status after the liveness check: a step that ends in between is seen as
    // ended, never as lost.
    << "e=$(cat \"$D/exit\" 2>/dev/null || true)\n"
    << "g=\n";
  if (!games_dir.empty()) {
    s << "g=$(find " << ShellQuote(games_dir)
      << " -type f -name '*.jsonl' -exec cat {} + 2>/dev/null | wc -l | tr -d ' ')\n";
  }
  s << "echo \"launched=$l alive=$a exit=$e games=$g\"\n";
  return s.str();
}

Result<Probe> ParseProbe(std::string_view out) {
  std::string_view line = LastLine(out);
  Probe p;
  int seen = 0;
  std::istringstream in{std::string(line)};
  std::string field;
  while (in >> field) {
    size_t eq = field.find('=');
    if (eq == std::string::npos) continue;
    std::string key = field.substr(0, eq);
    std::string_view value = std::string_view(field).substr(eq + 1);
    auto n = ToInt(value);
    if (key == "launched" && n) {
      p.launched = *n != 0;
      ++seen;
    } else if (key == "alive" && n) {
      p.alive = *n != 0;
      ++seen;
    } else if (key == "exit") {
      if (n) p.exit_code = static_cast<int>(*n);
      ++seen;
    } else if (key == "games") {
      if (n) p.games = *n;
      ++seen;
    }
  }
  // `exit=` and `games=` with nothing after them still split as one field each.
  if (seen < 2) return Internal("unexpected probe reply: '" + std::string(line) + "'");
  return p;
}

std::string KillScript(const std::string& step_dir, int grace_s) {
  std::ostringstream s;
  s << "D=" << ShellQuote(step_dir) << "\n"
    << "p=$(cat \"$D/pid\" 2>/dev/null || true)\n"
    << "[ -n \"$p\" ] || exit 0\n"
    << "kill -TERM -- \"-$p\" 2>/dev/null || kill -TERM \"$p\" 2>/dev/null || exit 0\n"
    << "i=0; while [ $i -lt " << grace_s << " ] && kill -0 \"$p\" 2>/dev/null; do sleep 1; "
    << "i=$((i+1)); done\n"
    << "kill -KILL -- \"-$p\" 2>/dev/null || kill -KILL \"$p\" 2>/dev/null || true\n";
  return s.str();
}

std::string OutputScript(const std::string& step_dir, int lines, int bytes) {
  std::ostringstream s;
  s << "D=" << ShellQuote(step_dir) << "\n"
    << "tail -n " << lines << " \"$D/out\" 2>/dev/null || true\n"
    << "echo; echo '" << kOutputMarker << "'\n"
    << "tail -c " << bytes << " \"$D/err\" 2>/dev/null || true\n";
  return s.str();
}

StepOutput ParseOutput(std::string_view out) {
  StepOutput o;
  size_t m = out.rfind(std::string("\n") + std::string(kOutputMarker) + "\n");
  if (m == std::string_view::npos) {
    o.out_tail = std::string(out);
    return o;
  }
  o.out_tail = std::string(out.substr(0, m));  // the newline at m is our `echo`
  o.err_tail = std::string(out.substr(m + kOutputMarker.size() + 2));
  return o;
}

std::string LastJsonLine(std::string_view text) {
  std::string_view best;
  size_t start = 0;
  while (start <= text.size()) {
    size_t nl = text.find('\n', start);
    std::string_view line = TrimView(
        text.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start));
    if (!line.empty() && line.front() == '{') best = line;
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  return std::string(best);
}

std::string Sha256Script(const std::vector<std::string>& paths) {
  std::string s(kShaCmd);
  s += "for f in";
  for (const auto& p : paths) s += " " + ShellQuote(p);
  s += "; do [ -f \"$f\" ] && $S \"$f\"; done; exit 0\n";
  return s;
}

Result<std::map<std::string, std::string>> ParseSha256(std::string_view out) {
  std::map<std::string, std::string> m;
  size_t start = 0;
  while (start < out.size()) {
    size_t nl = out.find('\n', start);
    std::string_view line =
        out.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    start = nl == std::string_view::npos ? out.size() : nl + 1;
    if (TrimView(line).empty()) continue;
    // "<hex>  <path>" (text mode) or "<hex> *<path>" (binary mode).
    if (line.size() < 67 || !IsSha256Hex(std::string(line.substr(0, 64))) || line[64] != ' ') {
      return Internal("unexpected sha256sum output: '" + std::string(line) + "'");
    }
    std::string_view path = line.substr(66);
    if (line[65] != ' ' && line[65] != '*') {
      return Internal("unexpected sha256sum output: '" + std::string(line) + "'");
    }
    m[std::string(path)] = std::string(line.substr(0, 64));
  }
  return m;
}

std::string VerifyRenameScript(const std::string& part, const std::string& final_path,
                               const std::string& sha256) {
  std::ostringstream s;
  s << kShaCmd << "p=" << ShellQuote(part) << "; f=" << ShellQuote(final_path) << "\n"
    << "h=$($S \"$p\" 2>/dev/null | cut -c1-64)\n"
    << "if [ \"$h\" = " << ShellQuote(sha256) << " ]; then\n"
    << "  mkdir -p \"$(dirname \"$f\")\" && mv -f \"$p\" \"$f\" && echo ok\n"
    << "else\n"
    << "  rm -f \"$p\"; echo \"mismatch $h\"\n"
    << "fi\n";
  return s.str();
}

}  // namespace rift::pipeline
