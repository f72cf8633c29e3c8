#include "orchestrator/inventory/manifest_json.h"

#include <climits>
#include <nlohmann/json.hpp>
#include <optional>

namespace rift::inventory {
namespace {

// Whether `s` is well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF).
bool ValidUtf8(const std::string& s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const unsigned char* end = p + s.size();
  while (p < end) {
    unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int n;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (end - p <= n) return false;
    for (int i = 1; i <= n; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    p += n + 1;
  }
  return true;
}

void AppendUnsigned(std::string* out, uint64_t v) {
  char buf[24];
  char* e = buf + sizeof buf;
  char* b = e;
  do {
    *--b = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  out->append(b, e);
}

void AppendSigned(std::string* out, int64_t v) {
  if (v < 0) {
    out->push_back('-');
    AppendUnsigned(out, ~static_cast<uint64_t>(v) + 1);
  } else {
    AppendUnsigned(out, static_cast<uint64_t>(v));
  }
}

}  // namespace

void AppendJsonString(std::string* out, const std::string& s) {
  if (!ValidUtf8(s)) {  // rare: let the library apply its replacement rules
    out->append(nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    return;
  }
  static const char* kHex = "0123456789abcdef";
  out->push_back('"');
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\b':
        out->append("\\b");
        break;
      case '\f':
        out->append("\\f");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (c < 0x20) {
          out->append("\\u00");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 15]);
        } else {
          out->push_back(ch);
        }
    }
  }
  out->push_back('"');
}

std::string RecordsJson(const std::vector<FileRecord>& records) {
  std::string out;
  out.reserve(records.size() * 200 + 2);
  out.push_back('[');
  for (const FileRecord& r : records) {
    if (out.size() > 1) out.push_back(',');
    out.append("{\"path\":");
    AppendJsonString(&out, r.path);
    out.append(",\"size\":");
    AppendUnsigned(&out, r.size);
    out.append(",\"mtime_ns\":");
    AppendSigned(&out, r.mtime_ns);
    out.append(",\"sha256\":");
    AppendJsonString(&out, r.sha256);
    out.append(",\"class\":");
    AppendJsonString(&out, r.klass);
    out.append(",\"version\":");
    AppendUnsigned(&out, r.version);
    out.append(r.sealed ? ",\"sealed\":true" : ",\"sealed\":false");
    out.append(r.deleted ? ",\"deleted\":true" : ",\"deleted\":false");
    out.append(",\"seq\":");
    AppendUnsigned(&out, r.seq);
    out.push_back('}');
  }
  out.push_back(']');
  return out;
}

namespace {

using json = nlohmann::json;
using Value = ManifestPage::Value;

// SAX events -> ManifestPage. Depth 1 is the page object; records are the objects at depth 3
// (page -> "records" array -> record).
class PageHandler : public nlohmann::json_sax<json> {
 public:
  explicit PageHandler(ManifestPage* page) : page_(page) {}
  const std::string& error() const { return error_; }

  bool null() override { return Scalar(Value{}); }
  bool boolean(bool v) override {
    Value x;
    x.kind = Value::Kind::kBool;
    x.b = v;
    return Scalar(std::move(x));
  }
  bool number_integer(number_integer_t v) override {
    Value x;
    x.kind = Value::Kind::kInteger;
    x.i = v;
    return Scalar(std::move(x));
  }
  bool number_unsigned(number_unsigned_t v) override {
    Value x;
    x.kind = Value::Kind::kUnsigned;
    x.u = v;
    return Scalar(std::move(x));
  }
  bool number_float(number_float_t v, const string_t&) override {
    Value x;
    x.kind = Value::Kind::kFloat;
    x.d = v;
    return Scalar(std::move(x));
  }
  bool string(string_t& v) override {
    Value x;
    x.kind = Value::Kind::kString;
    x.s = std::move(v);
    return Scalar(std::move(x));
  }
  bool binary(binary_t&) override { return Fail("unexpected binary value"); }

  bool start_object(std::size_t) override {
    if (stack_.empty()) {
      stack_.push_back(Frame{true, "", false});
      return true;
    }
    if (InRecordsArray()) {
      if (record_) return Fail(RecordName() + ": expected an object");
      record_ = FileRecord{};
    } else if (KnownRecordField()) {
      return Fail(RecordName() + "." + stack_.back().key + ": unexpected object");
    }
    stack_.push_back(Frame{true, "", false});
    return true;
  }
  bool key(string_t& k) override {
    stack_.back().key = std::move(k);
    return true;
  }
  bool end_object() override {
    stack_.pop_back();
    if (record_ && InRecordsArray()) {
      page_->records.push_back(std::move(*record_));
      record_.reset();
    }
    return true;
  }
  bool start_array(std::size_t) override {
    if (stack_.empty()) return Fail("expected a JSON object");
    bool records = stack_.size() == 1 && stack_.back().key == "records";
    if (records) page_->has_records = true;
    if (KnownRecordField())
      return Fail(RecordName() + "." + stack_.back().key + ": unexpected array");
    if (InRecordsArray()) return Fail(RecordName() + ": expected an object");
    stack_.push_back(Frame{false, "", records});
    return true;
  }
  bool end_array() override {
    stack_.pop_back();
    return true;
  }
  bool parse_error(std::size_t at, const std::string&,
                   const nlohmann::detail::exception& e) override {
    return Fail("invalid JSON at byte " + std::to_string(at) + ": " + e.what());
  }

 private:
  struct Frame {
    bool object;
    std::string key;  // objects: the current member's name
    bool records;     // arrays: the page's "records"
  };

  bool Fail(std::string why) {
    if (error_.empty()) error_ = std::move(why);
    return false;
  }
  bool InRecordsArray() const {
    return !stack_.empty() && !stack_.back().object && stack_.back().records;
  }
  std::string RecordName() const {
    return "records[" + std::to_string(page_->records.size()) + "]";
  }
  // A record's own member (not something nested in it) that we read.
  bool KnownRecordField() const {
    if (!record_ || stack_.size() != 3) return false;
    static const char* const kKnown[] = {"path",    "size",   "mtime_ns", "sha256", "class",
                                         "version", "sealed", "deleted",  "seq"};
    for (const char* k : kKnown) {
      if (stack_.back().key == k) return true;
    }
    return false;
  }

  bool Scalar(Value v) {
    if (stack_.empty()) return Fail("expected a JSON object");
    if (record_ && stack_.size() == 3) return Field(std::move(v));
    if (record_) return true;  // nested inside a record: not ours
    if (InRecordsArray()) return Fail(RecordName() + ": expected an object");
    // Scalars in other arrays, at any depth, are skipped.
    for (const Frame& f : stack_) {
      if (!f.object) return true;
    }
    std::string key;
    for (size_t i = 1; i < stack_.size(); ++i) key += stack_[i - 1].key + ".";
    key += stack_.back().key;
    page_->fields[key] = std::move(v);
    return true;
  }

  bool Field(Value v) {
    const std::string& k = stack_.back().key;
    FileRecord& r = *record_;
    auto want = [&](const char* what) {
      return Fail(RecordName() + "." + k + ": expected " + what);
    };
    using K = Value::Kind;
    if (k == "path" || k == "sha256" || k == "class") {
      if (v.kind != K::kString) return want("a string");
      (k == "path" ? r.path : k == "sha256" ? r.sha256 : r.klass) = std::move(v.s);
    } else if (k == "size" || k == "version" || k == "seq") {
      if (v.kind != K::kUnsigned) return want("an unsigned integer");
      (k == "size" ? r.size : k == "version" ? r.version : r.seq) = v.u;
    } else if (k == "mtime_ns") {
      if (v.kind == K::kInteger) {
        r.mtime_ns = v.i;
      } else if (v.kind == K::kUnsigned && v.u <= static_cast<uint64_t>(INT64_MAX)) {
        r.mtime_ns = static_cast<int64_t>(v.u);
      } else {
        return want("an integer");
      }
    } else if (k == "sealed" || k == "deleted") {
      if (v.kind != K::kBool) return want("true or false");
      (k == "sealed" ? r.sealed : r.deleted) = v.b;
    }
    return true;
  }

  ManifestPage* page_;
  std::vector<Frame> stack_;
  std::optional<FileRecord> record_;
  std::string error_;
};

const Value* Find(const std::map<std::string, Value>& m, const std::string& k) {
  auto it = m.find(k);
  return it == m.end() ? nullptr : &it->second;
}

}  // namespace

uint64_t ManifestPage::Unsigned(const std::string& key, uint64_t def) const {
  const Value* v = Find(fields, key);
  return v && v->kind == Value::Kind::kUnsigned ? v->u : def;
}

double ManifestPage::Number(const std::string& key, double def) const {
  const Value* v = Find(fields, key);
  if (!v) return def;
  switch (v->kind) {
    case Value::Kind::kUnsigned:
      return static_cast<double>(v->u);
    case Value::Kind::kInteger:
      return static_cast<double>(v->i);
    case Value::Kind::kFloat:
      return v->d;
    default:
      return def;
  }
}

bool ManifestPage::Bool(const std::string& key, bool def) const {
  const Value* v = Find(fields, key);
  return v && v->kind == Value::Kind::kBool ? v->b : def;
}

std::string ManifestPage::String(const std::string& key, const std::string& def) const {
  const Value* v = Find(fields, key);
  return v && v->kind == Value::Kind::kString ? v->s : def;
}

Result<ManifestPage> ParseManifestPage(std::string_view body) {
  ManifestPage page;
  PageHandler h(&page);
  bool ok = json::sax_parse(body.begin(), body.end(), &h);
  if (!ok || !h.error().empty()) {
    return InvalidArgument("manifest: " +
                           (h.error().empty() ? std::string("invalid JSON") : h.error()));
  }
  return page;
}

}  // namespace rift::inventory
