// The floors: what any client could do at best on this machine (a SET round trip with hiredis
// or OpenSSL on blocking sockets, alone or fanned out), and what the servers can execute.
#include "floors.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <exception>
#include <functional>
#include <stdexcept>
#include <thread>

#include "scripts.hpp"

namespace redlock::bench {
namespace {

// Polls n sockets until each node answered once: `read(k)` reads from node k when its socket
// is readable and says whether its reply is complete; `at_majority` runs once, at the
// answer that makes a majority. (The floors: what a client with no event loop does.)
void await_answers(std::size_t n, const std::function<int(std::size_t)>& fd_of,
                   const std::function<bool(std::size_t)>& read,
                   const std::function<void()>& at_majority) {
  std::vector<bool> answered(n, false);
  std::size_t answers = 0;
  while (answers < n) {
    std::vector<pollfd> fds;
    std::vector<std::size_t> which;
    for (std::size_t k = 0; k < n; ++k) {
      if (answered[k]) continue;
      fds.push_back({fd_of(k), POLLIN, 0});
      which.push_back(k);
    }
    if (poll(fds.data(), fds.size(), 5000) <= 0) throw std::runtime_error("floor: no answer");
    for (std::size_t f = 0; f < fds.size(); ++f) {
      if ((fds[f].revents & POLLIN) == 0 || !read(which[f])) continue;
      answered[which[f]] = true;
      if (++answers == n / 2 + 1) at_majority();
    }
  }
}

}  // namespace

floor_measurer::floor_measurer(const std::vector<std::string>& urls, std::size_t keys_per_lock)
    : measurer("floor",
               keys_per_lock > 0  ? "script-fanout"
               : urls.size() == 1 ? "hiredis-sync"
                                  : "hiredis-fanout",
               urls.size()),
      nodes_(connect_all(urls)) {
  resources = keys_per_lock;
  const redlock::detail::script& s = redlock::detail::acquire_script;
  for (redisContext* c : nodes_) {
    auto* loaded = static_cast<redisReply*>(
        redisCommand(c, "SCRIPT LOAD %b", s.source.data(), s.source.size()));
    if (loaded == nullptr || loaded->type == REDIS_REPLY_ERROR)
      throw std::runtime_error("floor: SCRIPT LOAD failed");
    freeReplyObject(loaded);
  }
}

floor_measurer::~floor_measurer() {
  for (redisContext* c : nodes_)
    redisFree(c);
}

void floor_measurer::run_for(clock_type::duration slice) {
  std::size_t n = nodes_.size();
  auto until = clock_type::now() + slice;
  while (clock_type::now() < until) {
    // Distinct per measurer: the floors share nodes, and a key already there is refused.
    std::string key = "floor:" + std::to_string(nodes_.size()) + ":" + std::to_string(resources) +
                      ":" + std::to_string(next_++);
    std::vector<std::string> args;
    if (resources > 0) {
      args = {"EVALSHA", std::string(redlock::detail::acquire_script.sha1),
              std::to_string(resources)};
      for (std::size_t k = 0; k < resources; ++k)
        args.push_back(key + ":" + std::to_string(k));
      args.insert(args.end(), {"v", "10000"});
    }
    std::vector<const char*> argv;
    std::vector<std::size_t> lengths;
    for (const std::string& a : args) {
      argv.push_back(a.data());
      lengths.push_back(a.size());
    }
    auto start = clock_type::now();
    for (redisContext* c : nodes_) {
      if (resources > 0) {
        redisAppendCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lengths.data());
      } else {
        redisAppendCommand(c, "SET %s v NX PX 10000", key.c_str());
      }
      int done = 0;
      while (done == 0) {
        if (redisBufferWrite(c, &done) != REDIS_OK) throw std::runtime_error("floor: write failed");
      }
    }
    // Each node answers once; a read may take the whole reply or wait for more bytes.
    await_answers(
        n, [&](std::size_t k) { return nodes_[k]->fd; },
        [&](std::size_t k) {
          redisContext* c = nodes_[k];
          if (redisBufferRead(c) != REDIS_OK) throw std::runtime_error("floor: read failed");
          void* reply = nullptr;
          if (redisGetReplyFromReader(c, &reply) != REDIS_OK || reply == nullptr) return false;
          if (static_cast<redisReply*>(reply)->type == REDIS_REPLY_ERROR) error();
          freeReplyObject(reply);
          return true;
        },
        [&] { sample(clock_type::now() - start); });
  }
}

tls_floor_measurer::tls_floor_measurer(const std::vector<std::string>& urls)
    : measurer("floor", urls.size() == 1 ? "openssl-sync" : "openssl-fanout", urls.size()) {
  tls = true;
  ctx_ = SSL_CTX_new(TLS_client_method());
  if (ctx_ == nullptr || SSL_CTX_load_verify_locations(ctx_, tls_ca_file.c_str(), nullptr) != 1)
    throw std::runtime_error("tls floor: cannot load the fleet's CA " + tls_ca_file);
  SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
  for (const auto& url : urls)
    connect(url);
}

tls_floor_measurer::~tls_floor_measurer() {
  for (auto& c : nodes_) {
    SSL_free(c.ssl);
    close(c.fd);
  }
  SSL_CTX_free(ctx_);
}

void tls_floor_measurer::connect(const std::string& url) {
  auto [host, port] = host_port(url);
  connection c;
  c.fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  inet_pton(AF_INET, host.c_str(), &address.sin_addr);
  int one = 1;
  setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(c.fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
    throw std::runtime_error("tls floor: cannot connect to " + url);
  c.ssl = SSL_new(ctx_);
  SSL_set_fd(c.ssl, c.fd);
  X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c.ssl), host.c_str());
  nodes_.push_back(c);
  if (SSL_connect(c.ssl) != 1) throw std::runtime_error("tls floor: handshake with " + url);
}

void tls_floor_measurer::run_for(clock_type::duration slice) {
  std::size_t n = nodes_.size();
  auto until = clock_type::now() + slice;
  char buf[512];
  while (clock_type::now() < until) {
    std::string key = "tlsfloor:" + std::to_string(next_++);
    std::string cmd = "*6\r\n$3\r\nSET\r\n$" + std::to_string(key.size()) + "\r\n" + key +
                      "\r\n$1\r\nv\r\n$2\r\nNX\r\n$2\r\nPX\r\n$5\r\n10000\r\n";
    auto start = clock_type::now();
    for (auto& c : nodes_) {
      if (SSL_write(c.ssl, cmd.data(), static_cast<int>(cmd.size())) <= 0)
        throw std::runtime_error("tls floor: write failed");
    }
    // Each reply ("+OK" or "$-1") is one short record: one read takes it whole.
    await_answers(
        n, [&](std::size_t k) { return nodes_[k].fd; },
        [&](std::size_t k) {
          int got = SSL_read(nodes_[k].ssl, buf, sizeof buf);
          if (got <= 0) throw std::runtime_error("tls floor: read failed");
          if (buf[0] == '-') error();
          return true;
        },
        [&] { sample(clock_type::now() - start); });
  }
}

capacity_measurer::capacity_measurer(const std::vector<std::string>& urls)
    : measurer("floor", "hiredis-pipelined", urls.size()), nodes_(connect_all(urls)) {
  concurrency_ = batch;
}

capacity_measurer::~capacity_measurer() {
  for (redisContext* c : nodes_)
    redisFree(c);
}

void capacity_measurer::run_for(clock_type::duration slice) {
  auto until = clock_type::now() + slice;
  std::vector<std::size_t> sets(nodes_.size(), 0);
  std::vector<std::exception_ptr> failures(nodes_.size());
  std::vector<std::thread> threads;
  for (std::size_t k = 0; k < nodes_.size(); ++k) {
    threads.emplace_back([&, k] {
      try {
        sets[k] = pipeline_until(nodes_[k], until);
      } catch (...) {
        failures[k] = std::current_exception();
      }
    });
  }
  for (std::thread& t : threads)
    t.join();
  for (std::size_t k = 0; k < nodes_.size(); ++k) {
    if (failures[k]) std::rethrow_exception(failures[k]);
    count_ops(sets[k]);
  }
}

std::size_t capacity_measurer::pipeline_until(redisContext* c, clock_type::time_point until) {
  std::size_t sets = 0;
  while (clock_type::now() < until) {
    for (int k = 0; k < batch; ++k)
      redisAppendCommand(c, "SET capacity:%d v PX 10000", k);
    for (int k = 0; k < batch; ++k) {
      void* reply = nullptr;
      if (redisGetReply(c, &reply) != REDIS_OK) throw std::runtime_error("capacity: read failed");
      freeReplyObject(reply);
    }
    sets += batch;
  }
  return sets;
}

double servers_capacity(const row& pipelined) {
  if (pipelined.servers_cpu_us <= 0) return pipelined.ops_per_s;
  return static_cast<double>(cores()) * 1e6 / pipelined.servers_cpu_us;
}

}  // namespace redlock::bench
