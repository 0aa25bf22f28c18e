#include "fence_seeder.hpp"

#include <algorithm>
#include <limits>
#include <utility>

#include "quorum.hpp"
#include "scripts.hpp"
#include "test_knobs.hpp"

namespace redlock::detail {

namespace {

constexpr std::string_view unseeded_prefix = "UNSEEDED ";
// HSCAN's COUNT: a page stays below the reply cap (1 MiB) for names up to about 10 kB.
constexpr std::string_view scan_page = "100";
// Resources per fence_seed.lua call: each call short next to the node timeout.
constexpr std::size_t seed_chunk = 500;
// How long a seeding's request may wait for room in its node's window.
constexpr std::chrono::seconds queue_budget{1};

}  // namespace

std::optional<std::uint64_t> parse_fence(std::string_view text) {
  if (text.empty() || text.size() > 20 || (text.size() > 1 && text[0] == '0')) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    auto digit = static_cast<std::uint64_t>(c - '0');
    if (value > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

bool is_unseeded(std::string_view error_reply) {
  return error_reply.substr(0, unseeded_prefix.size()) == unseeded_prefix;
}

std::string fence_mark(const server_info& server) {
  return server.run_id + "/" + server.replication_id;
}

std::string unseeded_grant(const reply& grant, const server_info* server) {
  if (grant.kind != reply::type::array || grant.elements.size() != 2) return {};
  const std::string& mark = grant.elements[1].text;
  if (server != nullptr && (!server->promotable || mark == fence_mark(*server))) return {};
  std::string now = server != nullptr ? fence_mark(*server) : "unknown";
  return std::string(unseeded_prefix) + "redlock: the seeded mark names the server " +
         mark.substr(0, 100) + ", not this one (" + now +
         "): it restarted, or was promoted, since its seeding, and may have lost numbers; it is "
         "seeded from the other nodes first";
}

// Any write-back majority W has at least quorum - 1 nodes besides the seeded one; a set of the
// N - 1 others meets every such W \ {node} once it has N - 1 - (quorum - 1) + 1 of them.
std::size_t sources_needed(std::size_t nodes) {
  if (nodes <= 1) return 0;
  return std::min(nodes - 1, nodes - quorum_of(nodes) + 1);
}

struct fence_seeder::job {
  std::size_t node = 0;
  std::string run_id;                            // of the server to seed
  std::string mark;                              // its fence_mark()
  std::map<std::string, std::uint64_t> highest;  // per resource, over the sources read
  std::vector<std::string> source_run_id;        // per node: the server its pages came from
  std::size_t scanning = 0;                      // sources not read to the end yet
  std::size_t read = 0;                          // sources read to the end
  std::vector<std::string> failures;             // "redis://h:1: why", per source that failed
};

fence_seeder::fence_seeder(round_env& env, std::string hash, std::chrono::nanoseconds retry_after,
                           hooks h)
    : env_(env),
      hash_(std::move(hash)),
      retry_after_(retry_after),
      hooks_(std::move(h)),
      running_(env.nodes.size()),
      failures_(env.nodes.size()),
      failed_at_(env.nodes.size()) {}

void fence_seeder::unseeded(std::size_t node, const std::shared_ptr<const server_info>& server) {
  if (running_[node] || !server || server->run_id.empty()) return;
  // Not while the node may not vote: a quarantined server is seeded only once its quarantine
  // ends, when every write-back that was under way when it lost its data has ended too.
  if (env_.excluded && env_.excluded(node).error) return;
  steady::time_point now = env_.time->now();
  if (failed_at_[node] && now - *failed_at_[node] < retry_after_) return;
  auto s = std::make_shared<job>();
  s->node = node;
  s->run_id = server->run_id;
  s->mark = fence_mark(*server);
  s->source_run_id.resize(env_.nodes.size());
  running_[node] = s;
  hooks_.begin();
  std::vector<std::size_t> sources;
  for (std::size_t j = 0; j < env_.nodes.size(); ++j) {
    if (j == node) continue;
    // A node still making its first connection is asked too (its requests wait for it); one
    // that is down fails at once.
    const link_status& st = env_.nodes[j]->status();
    if (st.server && st.server->run_id == s->run_id) continue;
    if (env_.excluded && env_.excluded(j).error) continue;  // quarantined, duplicate, risky
    sources.push_back(j);
  }
  if (test_knobs::seed_blindly.load()) {  // a negative control: the numbers stay lost
    env_.timers->defer([this, s] { write(s); });
    return;
  }
  std::size_t needed = sources_needed(env_.nodes.size());
  if (sources.size() < needed) {
    env_.timers->defer([this, s, n = sources.size(), needed] {
      finish(s, "only " + std::to_string(n) + " of the " + std::to_string(needed) +
                    " other nodes needed may vote");
    });
    return;
  }
  if (sources.empty()) {  // a fleet of one: nobody else ever held a number
    env_.timers->defer([this, s] { write(s); });
    return;
  }
  s->scanning = sources.size();
  for (std::size_t j : sources)
    scan(s, j, "0");
}

void fence_seeder::scan(const std::shared_ptr<job>& s, std::size_t source, std::string cursor) {
  auto cmd = std::make_shared<command>();
  cmd->wire = encode_command({"HSCAN", hash_, cursor, "COUNT", scan_page});
  env_.nodes[source]->send(
      std::move(cmd),
      [this, s, source](node_answer a) {
        const std::string& name = env_.nodes[source]->name();
        if (a.error) return source_done(s, name + ": " + a.detail);
        if (env_.excluded && env_.excluded(source).error)  // found quarantined meanwhile
          return source_done(s, name + ": " + env_.excluded(source).detail);
        const reply& r = a.value;
        if (r.is_error()) return source_done(s, name + ": " + r.text);
        if (r.kind != reply::type::array || r.elements.size() != 2 ||
            r.elements[0].kind != reply::type::string || r.elements[1].kind != reply::type::array ||
            r.elements[1].elements.size() % 2 != 0)
          return source_done(s, name + ": HSCAN answered " + r.describe());
        std::string server = a.server ? a.server->run_id : "";
        std::string& seen = s->source_run_id[source];
        if (seen.empty()) seen = server;
        if (server.empty() || server != seen)
          return source_done(s, name + ": another server answered during the read");
        const std::vector<reply>& pairs = r.elements[1].elements;
        for (const reply& e : pairs) {
          if (e.kind != reply::type::string)
            return source_done(s, name + ": HSCAN answered " + r.describe());
        }
        for (std::size_t k = 0; k + 1 < pairs.size(); k += 2) {
          const std::string& field = pairs[k].text;
          if (field.empty()) continue;  // the seeded mark
          std::optional<std::uint64_t> fence = parse_fence(pairs[k + 1].text);
          if (!fence)
            return source_done(s, name + ": the stored fence of '" + field.substr(0, 40) +
                                      "' is not a 64-bit number");
          std::uint64_t& best = s->highest[field];
          best = std::max(best, *fence);
        }
        const std::string& next = r.elements[0].text;
        if (next == "0") return source_done(s, "");
        scan(s, source, next);
      },
      queue_budget);
}

void fence_seeder::source_done(const std::shared_ptr<job>& s, const std::string& failure) {
  if (failure.empty()) {
    ++s->read;
  } else {
    s->failures.push_back(failure);
  }
  if (--s->scanning > 0) return;
  std::size_t needed = sources_needed(env_.nodes.size());
  if (s->read >= needed) return write(s);
  std::string why = "only " + std::to_string(s->read) + " of the " + std::to_string(needed) +
                    " other nodes needed were read";
  for (const std::string& f : s->failures)
    why += "; " + f;
  finish(s, why);
}

// One fence_seed.lua call per seed_chunk resources, one after another; the last sets the mark.
void fence_seeder::write(const std::shared_ptr<job>& s) {
  std::vector<std::string> numbers;  // the decimal texts, kept alive for the views below
  std::vector<std::string_view> args{"EVALSHA", fence_seed_script.sha1, "1", hash_, s->mark};
  const bool last = s->highest.size() <= seed_chunk;
  args.push_back(last ? "mark" : "more");
  auto it = s->highest.begin();
  for (std::size_t k = 0; k < seed_chunk && it != s->highest.end(); ++k, ++it)
    numbers.push_back(std::to_string(it->second));
  auto name = s->highest.begin();
  for (const std::string& number : numbers) {
    args.push_back(name->first);
    args.push_back(number);
    ++name;
  }
  auto cmd = std::make_shared<command>();
  cmd->wire = encode_command(args);
  cmd->script_source = fence_seed_script.source;
  s->highest.erase(s->highest.begin(), it);
  env_.nodes[s->node]->send(
      std::move(cmd),
      [this, s, last](node_answer a) {
        const std::string& node = env_.nodes[s->node]->name();
        if (a.error) return finish(s, node + ": " + a.detail);
        if (a.value.is_error()) return finish(s, node + ": " + a.value.text);
        if (a.value.kind == reply::type::integer && a.value.integer == 0)
          return finish(s, node + ": the server restarted again before it could be seeded");
        if (a.value.kind != reply::type::integer || a.value.integer != 1)
          return finish(s, node + ": fence_seed.lua answered " + a.value.describe());
        if (last) return finish(s, "");
        write(s);
      },
      queue_budget);
}

void fence_seeder::finish(const std::shared_ptr<job>& s, std::string failure) {
  std::size_t node = s->node;
  running_[node].reset();
  if (failure.empty()) {
    failed_at_[node].reset();
    failures_[node].clear();
  } else {
    failed_at_[node] = env_.time->now();
    failures_[node] = "its fencing numbers could not be seeded: " + std::move(failure);
  }
  if (hooks_.finished) hooks_.finished(node);
  hooks_.end();
}

}  // namespace redlock::detail
