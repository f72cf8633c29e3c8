#include "orchestrator/protocol/codec.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace rift::protocol {
namespace {

MemberDigest Digest(std::string id, MemberState state) {
  MemberDigest d;
  d.node_id = std::move(id);
  d.url = "http://" + d.node_id + ":8770";
  d.incarnation = 1'700'000'000'123ULL;
  d.boot_id = 0xFFFF'FFFF'FFFF'FFFFULL;  // full 64-bit range survives
  d.state = state;
  d.voter = true;
  d.outbound_only = true;
  return d;
}

Envelope Env(Body body) {
  Envelope e;
  e.from_id = "a";
  e.from_url = "http://a:8770";
  e.to_id = "b";
  e.to_url = "http://b:8770";
  e.body = std::move(body);
  return e;
}

std::vector<Envelope> EveryBodyType() {
  std::vector<Envelope> batch;
  batch.push_back(
      Env(Ping{7, "c", {Digest("x", MemberState::kAlive), Digest("y", MemberState::kSuspect)}}));
  batch.push_back(Env(Ack{8, "c", {Digest("z", MemberState::kDead)}}));
  batch.push_back(Env(PingReq{9, "c", "http://c:8770"}));
  batch.push_back(Env(VoteRequest{5, "a", true, true}));
  batch.push_back(Env(VoteResponse{5, true, true}));
  batch.push_back(Env(Heartbeat{6, "a", "http://a:8770", 42}));
  batch.push_back(Env(HeartbeatAck{6, 42, true}));
  batch.push_back(Env(TimeoutNow{6}));
  Envelope no_to = Env(Ping{});
  no_to.to_id.clear();  // joining through a seed: only the URL is known
  batch.push_back(no_to);
  return batch;
}

bool SameDigest(const MemberDigest& a, const MemberDigest& b) {
  return a.node_id == b.node_id && a.url == b.url && a.incarnation == b.incarnation &&
         a.boot_id == b.boot_id && a.state == b.state && a.voter == b.voter &&
         a.outbound_only == b.outbound_only;
}

bool SameGossip(const std::vector<MemberDigest>& a, const std::vector<MemberDigest>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!SameDigest(a[i], b[i])) return false;
  }
  return true;
}

bool SameBody(const Body& a, const Body& b) {
  if (a.index() != b.index()) return false;
  if (auto* x = std::get_if<Ping>(&a)) {
    auto& y = std::get<Ping>(b);
    return x->seq == y.seq && x->on_behalf_of == y.on_behalf_of && SameGossip(x->gossip, y.gossip);
  }
  if (auto* x = std::get_if<Ack>(&a)) {
    auto& y = std::get<Ack>(b);
    return x->seq == y.seq && x->target_id == y.target_id && SameGossip(x->gossip, y.gossip);
  }
  if (auto* x = std::get_if<PingReq>(&a)) {
    auto& y = std::get<PingReq>(b);
    return x->seq == y.seq && x->target_id == y.target_id && x->target_url == y.target_url;
  }
  if (auto* x = std::get_if<VoteRequest>(&a)) {
    auto& y = std::get<VoteRequest>(b);
    return x->term == y.term && x->candidate_id == y.candidate_id && x->pre_vote == y.pre_vote &&
           x->transfer == y.transfer;
  }
  if (auto* x = std::get_if<VoteResponse>(&a)) {
    auto& y = std::get<VoteResponse>(b);
    return x->term == y.term && x->granted == y.granted && x->pre_vote == y.pre_vote;
  }
  if (auto* x = std::get_if<Heartbeat>(&a)) {
    auto& y = std::get<Heartbeat>(b);
    return x->term == y.term && x->leader_id == y.leader_id && x->leader_url == y.leader_url &&
           x->seq == y.seq;
  }
  if (auto* x = std::get_if<HeartbeatAck>(&a)) {
    auto& y = std::get<HeartbeatAck>(b);
    return x->term == y.term && x->seq == y.seq && x->success == y.success;
  }
  return std::get<TimeoutNow>(a).term == std::get<TimeoutNow>(b).term;
}

TEST(CodecTest, EveryBodyTypeRoundTrips) {
  auto batch = EveryBodyType();
  auto decoded = DecodeBatch(EncodeBatch(batch));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  ASSERT_EQ(decoded->size(), batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    SCOPED_TRACE(i);
    const auto& got = (*decoded)[i];
    EXPECT_EQ(got.from_id, batch[i].from_id);
    EXPECT_EQ(got.from_url, batch[i].from_url);
    EXPECT_EQ(got.to_id, batch[i].to_id);
    EXPECT_EQ(got.to_url, batch[i].to_url);
    EXPECT_TRUE(SameBody(got.body, batch[i].body));
  }
}

TEST(CodecTest, EmptyBatchRoundTrips) {
  auto decoded = DecodeBatch(EncodeBatch({}));
  ASSERT_TRUE(decoded.ok());
  EXPECT_TRUE(decoded->empty());
}

TEST(CodecTest, EncodingUsesDocumentedTypeNames) {
  std::string json = EncodeBatch(EveryBodyType());
  for (const char* type : {"ping", "ack", "ping_req", "vote_request", "vote_response", "heartbeat",
                           "heartbeat_ack", "timeout_now"}) {
    EXPECT_NE(json.find(std::string("\"type\":\"") + type + "\""), std::string::npos) << type;
  }
}

TEST(CodecTest, InvalidUtf8IsReplacedNotThrown) {
  Envelope e = Env(TimeoutNow{1});
  e.from_id = "bad\xff";
  auto decoded = DecodeBatch(EncodeBatch({e}));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_NE((*decoded)[0].from_id, e.from_id);
}

struct BadCase {
  const char* name;
  std::string json;
  std::string error_prefix;  // the message must start with the path of the first problem
};

const char* kAddr = R"("from_id":"a","from_url":"u","to_id":"b","to_url":"v")";

std::string Msgs(const std::string& inner) { return R"({"messages":[)" + inner + "]}"; }
std::string One(const std::string& fields) {
  return Msgs(std::string("{") + kAddr + "," + fields + "}");
}

std::vector<BadCase> BadCases() {
  return {
      {"not json", "{messages:", "$: malformed JSON"},
      {"truncated", Msgs(R"({"from_id":"a")"), "$: malformed JSON"},
      {"top level array", "[]", "$: expected object"},
      {"no messages", "{}", "messages: missing"},
      {"messages not array", R"({"messages":{}})", "messages: expected array"},
      {"message not object", Msgs("1"), "messages[0]: expected object"},
      {"missing from_id", Msgs(R"({"type":"timeout_now","term":1})"),
       "messages[0].from_id: missing"},
      {"from_url wrong type",
       Msgs(R"({"from_id":"a","from_url":3,"to_id":"","to_url":"","type":"timeout_now","term":1})"),
       "messages[0].from_url: expected string"},
      {"missing type", One(R"("term":1)"), "messages[0].type: missing"},
      {"unknown type", One(R"("type":"append_entries","term":1)"),
       "messages[0].type: expected a known message type"},
      {"type not string", One(R"("type":5)"), "messages[0].type: expected string"},
      {"negative term", One(R"("type":"timeout_now","term":-1)"),
       "messages[0].term: expected unsigned integer"},
      {"float term", One(R"("type":"timeout_now","term":1.5)"),
       "messages[0].term: expected unsigned integer"},
      {"string term", One(R"("type":"timeout_now","term":"1")"),
       "messages[0].term: expected unsigned integer"},
      {"term beyond 64 bits", One(R"("type":"timeout_now","term":18446744073709551616)"),
       "messages[0].term: expected unsigned integer"},
      {"missing term", One(R"("type":"heartbeat","leader_id":"a","leader_url":"u","seq":1)"),
       "messages[0].term: missing"},
      {"bool as int", One(R"("type":"vote_response","term":1,"granted":1,"pre_vote":false)"),
       "messages[0].granted: expected boolean"},
      {"missing pre_vote",
       One(R"("type":"vote_request","term":1,"candidate_id":"a","transfer":false)"),
       "messages[0].pre_vote: missing"},
      {"gossip not array", One(R"("type":"ping","seq":1,"on_behalf_of":"","gossip":{})"),
       "messages[0].gossip: expected array"},
      {"gossip item not object", One(R"("type":"ack","seq":1,"target_id":"a","gossip":[7])"),
       "messages[0].gossip[0]: expected object"},
      {"bad state",
       One(R"("type":"ack","seq":1,"target_id":"a","gossip":[{"node_id":"x","url":"u",)"
           R"("incarnation":1,"boot_id":2,"state":"zombie","voter":false,"outbound_only":false}])"),
       "messages[0].gossip[0].state: expected one of alive|suspect|dead"},
      {"digest missing boot_id",
       One(R"("type":"ping","seq":1,"on_behalf_of":"","gossip":[{"node_id":"x","url":"u",)"
           R"("incarnation":1,"state":"alive","voter":false,"outbound_only":false}])"),
       "messages[0].gossip[0].boot_id: missing"},
      {"second message bad",
       Msgs(std::string("{") + kAddr + R"(,"type":"timeout_now","term":1},{)" + kAddr +
            R"(,"type":"ping_req","seq":1,"target_id":"c"})"),
       "messages[1].target_url: missing"},
      {"too deep", std::string(100, '[') + std::string(100, ']'), "$: nested deeper"},
  };
}

TEST(CodecTest, MalformedInputIsRefusedWithThePathOfTheFirstProblem) {
  for (const auto& c : BadCases()) {
    SCOPED_TRACE(c.name);
    auto decoded = DecodeBatch(c.json);
    ASSERT_FALSE(decoded.ok()) << c.json;
    EXPECT_EQ(decoded.status().code(), Code::kInvalidArgument);
    EXPECT_EQ(decoded.status().message().rfind(c.error_prefix, 0), 0u)
        << decoded.status().message();
  }
}

TEST(CodecTest, ExtraFieldsAreIgnoredForForwardCompatibility) {
  auto decoded = DecodeBatch(One(R"("type":"timeout_now","term":3,"future":[1,2])"));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(std::get<TimeoutNow>((*decoded)[0].body).term, 3u);
}

TEST(CodecTest, BatchesOverTheLimitAreRefused) {
  std::vector<Envelope> at_limit(1024, Env(TimeoutNow{1}));
  EXPECT_TRUE(DecodeBatch(EncodeBatch(at_limit)).ok());
  at_limit.push_back(Env(TimeoutNow{1}));
  auto decoded = DecodeBatch(EncodeBatch(at_limit));
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().message().rfind("messages: more than 1024", 0), 0u);
}

TEST(CodecTest, GossipListsOverTheLimitAreRefused) {
  Ping ping;
  ping.gossip.assign(1024, Digest("x", MemberState::kAlive));
  EXPECT_TRUE(DecodeBatch(EncodeBatch({Env(ping)})).ok());
  ping.gossip.push_back(Digest("x", MemberState::kAlive));
  auto decoded = DecodeBatch(EncodeBatch({Env(ping)}));
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().message().rfind("messages[0].gossip: more than 1024", 0), 0u);
}

TEST(CodecTest, StringsContainingBracketsDoNotCountAsNesting) {
  Envelope e = Env(Heartbeat{1, std::string(200, '['), "u\"[{", 1});
  auto decoded = DecodeBatch(EncodeBatch({e}));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(std::get<Heartbeat>((*decoded)[0].body).leader_id, std::string(200, '['));
}

}  // namespace
}  // namespace rift::protocol
