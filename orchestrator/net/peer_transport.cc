#include "orchestrator/net/peer_transport.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <list>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <utility>

#include "orchestrator/base/log.h"
#include "orchestrator/net/http_client.h"
#include "orchestrator/protocol/codec.h"

namespace rift::net {
namespace {

struct Batch {
  std::string url;
  std::string route;
  std::vector<protocol::Envelope> envelopes;
};

}  // namespace

struct PeerTransport::Impl {
  TransportOptions options;
  ReplySink on_replies;

  std::mutex mu;  // queue, clients, stats
  std::condition_variable cv;
  std::deque<Batch> queue;
  std::map<std::string, size_t> queued_per_url;
  std::set<std::string> in_flight;  // destinations a worker is talking to right now
  bool stopping = false;
  std::vector<std::thread> workers;
  TransportStats stats;
  // url -> client, most recently used at the front of `lru`.
  std::list<std::string> lru;
  std::map<std::string, std::pair<std::shared_ptr<HttpClient>, std::list<std::string>::iterator>>
      clients;

  std::shared_ptr<HttpClient> ClientFor(const std::string& url) {
    std::lock_guard lock(mu);
    if (auto it = clients.find(url); it != clients.end()) {
      lru.splice(lru.begin(), lru, it->second.second);
      return it->second.first;
    }
    ClientOptions co{options.connect_timeout, options.request_timeout, options.request_timeout,
                     options.auth_token};
    auto created = HttpClient::Create(url, co);
    if (!created.ok()) return nullptr;
    // Evict idle clients (nobody else holds them) from the cold end.
    for (auto it = lru.end(); clients.size() >= options.max_clients && it != lru.begin();) {
      --it;
      auto c = clients.find(*it);
      if (c->second.first.use_count() == 1) {
        clients.erase(c);
        it = lru.erase(it);
      }
    }
    std::shared_ptr<HttpClient> client = std::move(created).value();
    lru.push_front(url);
    clients[url] = {client, lru.begin()};
    return client;
  }

  void Run(Batch batch) {
    auto client = ClientFor(batch.url);
    bool ok = false;
    std::vector<protocol::Envelope> replies;
    if (client) {
      auto r =
          client->Post(batch.route, protocol::EncodeBatch(batch.envelopes), "application/json");
      if (r.ok() && r->status == 200) {
        auto decoded = protocol::DecodeBatch(r->body);
        if (decoded.ok()) {
          ok = true;
          replies = std::move(decoded).value();
        } else {
          log::Debug("bad reply batch from " + batch.url + ": " + decoded.status().message());
        }
      } else if (r.ok()) {
        log::Debug("peer " + batch.url + batch.route + " answered " + std::to_string(r->status));
      }
    }
    {
      std::lock_guard lock(mu);
      if (ok) {
        ++stats.batches_sent;
        stats.envelopes_sent += batch.envelopes.size();
        stats.replies_received += replies.size();
      } else {
        ++stats.batches_failed;
      }
    }
    if (!replies.empty() && on_replies) on_replies(std::move(replies));
  }

  void Work() {
    for (;;) {
      Batch batch;
      {
        std::unique_lock lock(mu);
        // The oldest batch whose destination is idle: one slow peer never blocks the others.
        auto next = queue.end();
        cv.wait(lock, [&] {
          next = std::find_if(queue.begin(), queue.end(),
                              [&](const Batch& b) { return !in_flight.count(b.url); });
          return stopping || next != queue.end();
        });
        if (stopping) return;
        batch = std::move(*next);
        queue.erase(next);
        if (--queued_per_url[batch.url] == 0) queued_per_url.erase(batch.url);
        in_flight.insert(batch.url);
      }
      std::string url = batch.url;
      Run(std::move(batch));
      {
        std::lock_guard lock(mu);
        in_flight.erase(url);
      }
      cv.notify_all();
    }
  }
};

PeerTransport::PeerTransport(TransportOptions options, ReplySink on_replies)
    : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->on_replies = std::move(on_replies);
  for (size_t i = 0; i < impl_->options.workers; ++i) {
    impl_->workers.emplace_back([impl = impl_.get()] { impl->Work(); });
  }
}

PeerTransport::~PeerTransport() { Stop(); }

void PeerTransport::Send(std::vector<protocol::Envelope> envelopes) {
  if (envelopes.empty()) return;
  std::map<std::pair<std::string, std::string>, std::vector<protocol::Envelope>> groups;
  uint64_t unaddressed = 0;
  for (auto& e : envelopes) {
    if (e.to_url.empty()) {
      ++unaddressed;
      continue;
    }
    std::string route = protocol::RouteFor(e.body);
    groups[{e.to_url, route}].push_back(std::move(e));
  }
  std::lock_guard lock(impl_->mu);
  impl_->stats.batches_dropped += unaddressed;
  for (auto& [key, batch] : groups) {
    if (impl_->stopping || impl_->queue.size() >= impl_->options.max_queue ||
        impl_->queued_per_url[key.first] >= impl_->options.max_queue_per_url) {
      ++impl_->stats.batches_dropped;
      if (impl_->queued_per_url[key.first] == 0) impl_->queued_per_url.erase(key.first);
      continue;
    }
    ++impl_->queued_per_url[key.first];
    impl_->queue.push_back(Batch{key.first, key.second, std::move(batch)});
    impl_->cv.notify_one();
  }
}

void PeerTransport::Stop() {
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopping && impl_->workers.empty()) return;
    impl_->stopping = true;
    impl_->stats.batches_dropped += impl_->queue.size();
    impl_->queue.clear();
    impl_->queued_per_url.clear();
  }
  impl_->cv.notify_all();
  for (auto& t : impl_->workers) t.join();
  impl_->workers.clear();
}

TransportStats PeerTransport::stats() const {
  std::lock_guard lock(impl_->mu);
  return impl_->stats;
}

}  // namespace rift::net
