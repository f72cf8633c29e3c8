#include "orchestrator/protocol/codec.h"

#include <cstddef>
#include <exception>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

namespace rift::protocol {
namespace {

using json = nlohmann::json;

// Bounds: a peer cannot make us allocate without limit or recurse deeply.
constexpr size_t kMaxBatch = 1024;
constexpr size_t kMaxGossip = 1024;
constexpr int kMaxDepth = 16;

// --- encoding ---

json EncodeDigest(const MemberDigest& d) {
  return json{{"node_id", d.node_id},
              {"url", d.url},
              {"incarnation", d.incarnation},
              {"boot_id", d.boot_id},
              {"state", MemberStateName(d.state)},
              {"voter", d.voter},
              {"outbound_only", d.outbound_only}};
}

json EncodeGossip(const std::vector<MemberDigest>& gossip) {
  json out = json::array();
  for (const auto& d : gossip) out.push_back(EncodeDigest(d));
  return out;
}

void EncodeBody(const Ping& b, json& j) {
  j["type"] = "ping";
  j["seq"] = b.seq;
  j["on_behalf_of"] = b.on_behalf_of;
  j["gossip"] = EncodeGossip(b.gossip);
}
void EncodeBody(const Ack& b, json& j) {
  j["type"] = "ack";
  j["seq"] = b.seq;
  j["target_id"] = b.target_id;
  j["gossip"] = EncodeGossip(b.gossip);
}
void EncodeBody(const PingReq& b, json& j) {
  j["type"] = "ping_req";
  j["seq"] = b.seq;
  j["target_id"] = b.target_id;
  j["target_url"] = b.target_url;
}
void EncodeBody(const VoteRequest& b, json& j) {
  j["type"] = "vote_request";
  j["term"] = b.term;
  j["candidate_id"] = b.candidate_id;
  j["pre_vote"] = b.pre_vote;
  j["transfer"] = b.transfer;
}
void EncodeBody(const VoteResponse& b, json& j) {
  j["type"] = "vote_response";
  j["term"] = b.term;
  j["granted"] = b.granted;
  j["pre_vote"] = b.pre_vote;
}
void EncodeBody(const Heartbeat& b, json& j) {
  j["type"] = "heartbeat";
  j["term"] = b.term;
  j["leader_id"] = b.leader_id;
  j["leader_url"] = b.leader_url;
  j["seq"] = b.seq;
}
void EncodeBody(const HeartbeatAck& b, json& j) {
  j["type"] = "heartbeat_ack";
  j["term"] = b.term;
  j["seq"] = b.seq;
  j["success"] = b.success;
}
void EncodeBody(const TimeoutNow& b, json& j) {
  j["type"] = "timeout_now";
  j["term"] = b.term;
}

// --- decoding ---

// Reads fields of one JSON object, remembering the first problem with its path.
class Reader {
 public:
  Reader(const json& obj, std::string path) : obj_(obj), path_(std::move(path)) {}

  const json* Field(const char* name, Status* err) const {
    auto it = obj_.find(name);
    if (it == obj_.end()) {
      *err = InvalidArgument(path_ + "." + name + ": missing");
      return nullptr;
    }
    return &*it;
  }

  Status Str(const char* name, std::string* out) const {
    Status err;
    const json* v = Field(name, &err);
    if (v == nullptr) return err;
    if (!v->is_string()) return Wrong(name, "string");
    *out = v->get<std::string>();
    return Status::Ok();
  }
  Status U64(const char* name, uint64_t* out) const {
    Status err;
    const json* v = Field(name, &err);
    if (v == nullptr) return err;
    if (!v->is_number_unsigned()) return Wrong(name, "unsigned integer");
    *out = v->get<uint64_t>();
    return Status::Ok();
  }
  Status Bool(const char* name, bool* out) const {
    Status err;
    const json* v = Field(name, &err);
    if (v == nullptr) return err;
    if (!v->is_boolean()) return Wrong(name, "boolean");
    *out = v->get<bool>();
    return Status::Ok();
  }

  Status Wrong(const char* name, const char* expected) const {
    return InvalidArgument(path_ + "." + name + ": expected " + expected);
  }
  const std::string& path() const { return path_; }

 private:
  const json& obj_;
  std::string path_;
};

Status DecodeState(const Reader& r, MemberState* out) {
  std::string s;
  RIFT_RETURN_IF_ERROR(r.Str("state", &s));
  if (s == "alive") {
    *out = MemberState::kAlive;
  } else if (s == "suspect") {
    *out = MemberState::kSuspect;
  } else if (s == "dead") {
    *out = MemberState::kDead;
  } else {
    return r.Wrong("state", "one of alive|suspect|dead");
  }
  return Status::Ok();
}

Status DecodeGossip(const Reader& r, std::vector<MemberDigest>* out) {
  Status err;
  const json* v = r.Field("gossip", &err);
  if (v == nullptr) return err;
  if (!v->is_array()) return r.Wrong("gossip", "array");
  if (v->size() > kMaxGossip) {
    return InvalidArgument(r.path() + ".gossip: more than " + std::to_string(kMaxGossip) +
                           " digests");
  }
  out->reserve(v->size());
  for (size_t i = 0; i < v->size(); ++i) {
    std::string path = r.path() + ".gossip[" + std::to_string(i) + "]";
    const json& item = (*v)[i];
    if (!item.is_object()) return InvalidArgument(path + ": expected object");
    Reader d(item, path);
    MemberDigest m;
    RIFT_RETURN_IF_ERROR(d.Str("node_id", &m.node_id));
    RIFT_RETURN_IF_ERROR(d.Str("url", &m.url));
    RIFT_RETURN_IF_ERROR(d.U64("incarnation", &m.incarnation));
    RIFT_RETURN_IF_ERROR(d.U64("boot_id", &m.boot_id));
    RIFT_RETURN_IF_ERROR(DecodeState(d, &m.state));
    RIFT_RETURN_IF_ERROR(d.Bool("voter", &m.voter));
    RIFT_RETURN_IF_ERROR(d.Bool("outbound_only", &m.outbound_only));
    out->push_back(std::move(m));
  }
  return Status::Ok();
}

Status DecodeBody(const Reader& r, const std::string& type, Body* out) {
  if (type == "ping") {
    Ping b;
    RIFT_RETURN_IF_ERROR(r.U64("seq", &b.seq));
    RIFT_RETURN_IF_ERROR(r.Str("on_behalf_of", &b.on_behalf_of));
    RIFT_RETURN_IF_ERROR(DecodeGossip(r, &b.gossip));
    *out = std::move(b);
  } else if (type == "ack") {
    Ack b;
    RIFT_RETURN_IF_ERROR(r.U64("seq", &b.seq));
    RIFT_RETURN_IF_ERROR(r.Str("target_id", &b.target_id));
    RIFT_RETURN_IF_ERROR(DecodeGossip(r, &b.gossip));
    *out = std::move(b);
  } else if (type == "ping_req") {
    PingReq b;
    RIFT_RETURN_IF_ERROR(r.U64("seq", &b.seq));
    RIFT_RETURN_IF_ERROR(r.Str("target_id", &b.target_id));
    RIFT_RETURN_IF_ERROR(r.Str("target_url", &b.target_url));
    *out = std::move(b);
  } else if (type == "vote_request") {
    VoteRequest b;
    RIFT_RETURN_IF_ERROR(r.U64("term", &b.term));
    RIFT_RETURN_IF_ERROR(r.Str("candidate_id", &b.candidate_id));
    RIFT_RETURN_IF_ERROR(r.Bool("pre_vote", &b.pre_vote));
    RIFT_RETURN_IF_ERROR(r.Bool("transfer", &b.transfer));
    *out = std::move(b);
  } else if (type == "vote_response") {
    VoteResponse b;
    RIFT_RETURN_IF_ERROR(r.U64("term", &b.term));
    RIFT_RETURN_IF_ERROR(r.Bool("granted", &b.granted));
    RIFT_RETURN_IF_ERROR(r.Bool("pre_vote", &b.pre_vote));
    *out = std::move(b);
  } else if (type == "heartbeat") {
    Heartbeat b;
    RIFT_RETURN_IF_ERROR(r.U64("term", &b.term));
    RIFT_RETURN_IF_ERROR(r.Str("leader_id", &b.leader_id));
    RIFT_RETURN_IF_ERROR(r.Str("leader_url", &b.leader_url));
    RIFT_RETURN_IF_ERROR(r.U64("seq", &b.seq));
    *out = std::move(b);
  } else if (type == "heartbeat_ack") {
    HeartbeatAck b;
    RIFT_RETURN_IF_ERROR(r.U64("term", &b.term));
    RIFT_RETURN_IF_ERROR(r.U64("seq", &b.seq));
    RIFT_RETURN_IF_ERROR(r.Bool("success", &b.success));
    *out = std::move(b);
  } else if (type == "timeout_now") {
    TimeoutNow b;
    RIFT_RETURN_IF_ERROR(r.U64("term", &b.term));
    *out = std::move(b);
  } else {
    return r.Wrong("type", "a known message type");
  }
  return Status::Ok();
}

Status DecodeEnvelope(const json& item, std::string path, Envelope* out) {
  if (!item.is_object()) return InvalidArgument(path + ": expected object");
  Reader r(item, std::move(path));
  RIFT_RETURN_IF_ERROR(r.Str("from_id", &out->from_id));
  RIFT_RETURN_IF_ERROR(r.Str("from_url", &out->from_url));
  RIFT_RETURN_IF_ERROR(r.Str("to_id", &out->to_id));
  RIFT_RETURN_IF_ERROR(r.Str("to_url", &out->to_url));
  std::string type;
  RIFT_RETURN_IF_ERROR(r.Str("type", &type));
  return DecodeBody(r, type, &out->body);
}

// nlohmann's parser is iterative but destroying a deeply nested value is not in every version;
// our documents are at most 4 levels deep, so refuse anything deeper before parsing.
bool NestingWithin(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return false;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return true;
}

Result<std::vector<Envelope>> DecodeParsed(const json& doc) {
  if (!doc.is_object()) return InvalidArgument("$: expected object");
  auto it = doc.find("messages");
  if (it == doc.end()) return InvalidArgument("messages: missing");
  if (!it->is_array()) return InvalidArgument("messages: expected array");
  if (it->size() > kMaxBatch) {
    return InvalidArgument("messages: more than " + std::to_string(kMaxBatch) + " envelopes");
  }
  std::vector<Envelope> batch(it->size());
  for (size_t i = 0; i < it->size(); ++i) {
    RIFT_RETURN_IF_ERROR(
        DecodeEnvelope((*it)[i], "messages[" + std::to_string(i) + "]", &batch[i]));
  }
  return batch;
}

}  // namespace

std::string EncodeBatch(const std::vector<Envelope>& batch) {
  json messages = json::array();
  for (const auto& e : batch) {
    json j{
        {"from_id", e.from_id}, {"from_url", e.from_url}, {"to_id", e.to_id}, {"to_url", e.to_url}};
    std::visit([&j](const auto& body) { EncodeBody(body, j); }, e.body);
    messages.push_back(std::move(j));
  }
  json doc{{"messages", std::move(messages)}};
  // Strings come from peers and config; replace invalid UTF-8 rather than throw.
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<std::vector<Envelope>> DecodeBatch(std::string_view text) {
  if (!NestingWithin(text, kMaxDepth)) {
    return InvalidArgument("$: nested deeper than " + std::to_string(kMaxDepth) + " levels");
  }
  try {
    json doc = json::parse(text.begin(), text.end());
    return DecodeParsed(doc);
  } catch (const json::parse_error& e) {
    return InvalidArgument("$: malformed JSON at byte " + std::to_string(e.byte));
  } catch (const std::exception& e) {
    // Only allocation failures or invalid UTF-8 in get<std::string>() can get here.
    return InvalidArgument(std::string("$: ") + e.what());
  }
}

}  // namespace rift::protocol
