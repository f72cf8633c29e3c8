#pragma once
// Test-only: a tiny httplib server standing in for the node daemon (127.0.0.1, ephemeral port),
// and an address where nothing listens.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

namespace rift::cli::testing {

using json = nlohmann::json;

// A stand-in daemon on 127.0.0.1:<ephemeral>.
class FakeDaemon {
 public:
  FakeDaemon() {
    server_.set_tcp_nodelay(true);
    server_.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response&) {
      std::lock_guard<std::mutex> lock(mu_);
      last_auth_ = req.get_header_value("Authorization");
      ++hits_;
      return httplib::Server::HandlerResponse::Unhandled;
    });
  }
  ~FakeDaemon() {
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }
  httplib::Server& server() { return server_; }
  void ServeJson(const std::string& path, int status, const json& body) {
    std::string text = body.dump();
    auto handler = [status, text](const httplib::Request&, httplib::Response& res) {
      res.status = status;
      res.set_content(text, "application/json");
    };
    server_.Get(path, handler);
    server_.Post(path, handler);
  }
  void Start() {
    port_ = server_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!server_.is_running() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
    ASSERT_TRUE(server_.is_running());
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string last_auth() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_auth_;
  }
  int hits() {
    std::lock_guard<std::mutex> lock(mu_);
    return hits_;
  }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  std::string last_auth_;
  int hits_ = 0;
};

// An address nobody listens on: bind an ephemeral port, then close it.
inline std::string ClosedAddr() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = 0;
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
  socklen_t len = sizeof(sa);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  ::close(fd);
  return "http://127.0.0.1:" + std::to_string(ntohs(sa.sin_port));
}

}  // namespace rift::cli::testing
