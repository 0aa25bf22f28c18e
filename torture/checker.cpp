// The checker's rules (checker.hpp; docs/torture.md says why each is what it is).
#include "checker.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <tuple>
#include <utility>

#include "flat_json.hpp"

namespace redlock::torture {

const char* to_string(claim_end e) noexcept {
  switch (e) {
    case claim_end::valid_until:
      return "valid_until";
    case claim_end::release:
      return "release";
    case claim_end::lost:
      return "lost";
  }
  return "unknown";
}

namespace {

using std::chrono::nanoseconds;

double to_ms(nanoseconds d) {
  return static_cast<double>(d.count()) / 1e6;
}

std::string ms_text(double ms) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3f ms", ms);
  return buf;
}

std::string at(time_point t) {
  return "t=" + std::to_string(to_nanos(t));
}

std::string q(std::string_view text) {
  return json_quote(text);
}

std::string describe_claim(const claim& c) {
  std::string out = q(c.token) + " of " + q(c.client) + " (call " + std::to_string(c.call) +
                    ", held " + at(c.start) + " to " + at(c.end) + ", ended by " +
                    to_string(c.ended_by);
  if (c.fence) out += ", fence " + std::to_string(*c.fence);
  return out + ")";
}

std::string describe_effect(const effect_record& e) {
  std::string out = q(e.what.token) + " of " + q(e.client) + " at " + at(e.t) + " (read " +
                    std::to_string(e.what.read) + ", wrote " + std::to_string(e.what.wrote);
  if (e.what.fence) out += ", fence " + std::to_string(*e.what.fence);
  return out + ")";
}

// ---- intervals ----

using span = std::pair<time_point, time_point>;  // [first, second)
using spans = std::vector<span>;

// Sorted, merged, without empty spans.
spans normalized(spans in) {
  in.erase(std::remove_if(in.begin(), in.end(), [](const span& s) { return s.second <= s.first; }),
           in.end());
  std::sort(in.begin(), in.end());
  spans out;
  for (const span& s : in) {
    if (!out.empty() && s.first <= out.back().second) {
      out.back().second = std::max(out.back().second, s.second);
    } else {
      out.push_back(s);
    }
  }
  return out;
}

// Both normalized.
spans intersected(const spans& a, const spans& b) {
  spans out;
  std::size_t i = 0;
  std::size_t j = 0;
  while (i < a.size() && j < b.size()) {
    time_point from = std::max(a[i].first, b[j].first);
    time_point to = std::min(a[i].second, b[j].second);
    if (from < to) out.push_back({from, to});
    if (a[i].second < b[j].second) {
      ++i;
    } else {
      ++j;
    }
  }
  return out;
}

// Both normalized.
spans subtracted(const spans& a, const spans& b) {
  spans out;
  std::size_t j = 0;
  for (span s : a) {
    while (j < b.size() && b[j].second <= s.first)
      ++j;
    for (std::size_t k = j; k < b.size() && b[k].first < s.second; ++k) {
      if (b[k].first > s.first) out.push_back({s.first, b[k].first});
      s.first = std::max(s.first, b[k].second);
    }
    if (s.first < s.second) out.push_back(s);
  }
  return out;
}

// ---- the model ----

// A granted lease of one client, while the records are read.
struct lease_state {
  std::size_t acquire = 0;  // index into calls
  std::string token;
  time_point start;
  time_point last_valid_until;
  std::optional<time_point> release_invoked;
  std::optional<time_point> lost_at;
  std::vector<std::size_t> extends;  // indexes into calls: the extends of this lease
  std::optional<std::uint64_t> fence;
};

std::string call_name(const std::string& client, std::uint64_t call) {
  return "client " + q(client) + " call " + std::to_string(call);
}

}  // namespace

std::string unknown_call::describe() const {
  std::string out = std::string("unknown outcome: ") + to_string(op) + " " +
                    call_name(client, call) + " invoked at " + at(invoked);
  if (!token.empty()) out += " with token " + q(token);
  if (!resources.empty()) {
    out += " on";
    for (const std::string& r : resources)
      out += " " + q(r);
  }
  if (window_end > invoked) out += ", possibly in effect until " + at(window_end);
  return out;
}

history_model build_model(const std::vector<record>& records) {
  history_model m;
  std::vector<std::size_t> order(records.size());
  for (std::size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return records[a].t < records[b].t; });

  // Pass 1: every invocation, so that a completion finds its call whatever the timestamps.
  std::map<std::pair<std::string, std::uint64_t>, std::size_t> call_index;
  std::vector<bool> duplicate(records.size(), false);
  for (std::size_t i : order) {
    const record& r = records[i];
    const auto* call = std::get_if<invocation>(&r.what);
    if (!call) continue;
    auto key = std::make_pair(r.client, call->call);
    if (call_index.count(key)) {
      m.errors.push_back(call_name(r.client, call->call) + ": invoked twice (at " + at(r.t) +
                         " again); the second invocation is left out");
      duplicate[i] = true;
      continue;
    }
    call_index[key] = m.calls.size();
    m.calls.push_back({r.client, r.t, *call, std::nullopt, false, ""});
  }

  // Pass 2, in time order: completions, releases, lost signals, effects.
  std::map<std::pair<std::string, std::string>, lease_state> leases;  // (client, token)
  auto find_lease = [&](const std::string& client, const std::string& token) -> lease_state* {
    auto it = leases.find({client, token});
    return it == leases.end() ? nullptr : &it->second;
  };
  for (std::size_t i : order) {
    const record& r = records[i];
    if (const auto* call = std::get_if<invocation>(&r.what)) {
      if (duplicate[i] || call->op == op::acquire) continue;
      std::size_t index = call_index.at({r.client, call->call});
      lease_state* lease = find_lease(r.client, call->token);
      if (!lease) {
        m.errors.push_back(call_name(r.client, call->call) + ": " + to_string(call->op) +
                           " of token " + q(call->token) +
                           ", which this client was not granted before " + at(r.t));
        continue;
      }
      if (call->op == op::release && !lease->release_invoked) lease->release_invoked = r.t;
      if (call->op == op::extend) lease->extends.push_back(index);
      continue;
    }
    if (const auto* lost = std::get_if<lost_signal>(&r.what)) {
      lease_state* lease = find_lease(r.client, lost->token);
      if (!lease) {
        m.errors.push_back("client " + q(r.client) + ": lost signal at " + at(r.t) + " for token " +
                           q(lost->token) + ", which it was not granted before");
        continue;
      }
      if (!lease->lost_at) lease->lost_at = r.t;
      m.lost.push_back({r.client, r.t, *lost});
      continue;
    }
    if (const auto* done = std::get_if<effect>(&r.what)) {
      if (!find_lease(r.client, done->token)) {
        m.errors.push_back("client " + q(r.client) + ": effect at " + at(r.t) + " with token " +
                           q(done->token) + ", which it was not granted before");
        continue;
      }
      m.effects.push_back({r.client, r.t, *done});
      continue;
    }
    // A completion.
    const auto* ok = std::get_if<success>(&r.what);
    const auto* failed = std::get_if<failure>(&r.what);
    std::uint64_t id = ok ? ok->call : failed->call;
    auto it = call_index.find({r.client, id});
    if (it == call_index.end()) {
      m.errors.push_back(call_name(r.client, id) + ": completion at " + at(r.t) +
                         " without invocation");
      continue;
    }
    call_record& c = m.calls[it->second];
    if (c.completed) {
      m.errors.push_back(call_name(r.client, id) + ": completed twice (again at " + at(r.t) +
                         "); the second completion is left out");
      continue;
    }
    if (r.t < c.invoked) {
      m.errors.push_back(call_name(r.client, id) + ": completed at " + at(r.t) +
                         ", before its invocation at " + at(c.invoked));
      continue;
    }
    c.completed = r.t;
    c.succeeded = ok != nullptr;
    if (failed) c.error = failed->error;
    const std::optional<time_point>& valid_until = ok ? ok->valid_until : failed->valid_until;

    if (c.what.op == op::acquire) {
      if (!ok) continue;
      if (ok->token.empty() || !ok->valid_until) {
        m.errors.push_back(call_name(r.client, id) + ": acquire ok without " +
                           (ok->token.empty() ? "token" : "valid_until") +
                           "; the grant is left out");
        continue;
      }
      if (find_lease(r.client, ok->token)) {
        m.errors.push_back(call_name(r.client, id) + ": granted token " + q(ok->token) +
                           ", which this client was granted before; the grant is left out");
        continue;
      }
      if (c.what.fenced != ok->fence.has_value()) {
        m.errors.push_back(call_name(r.client, id) + ": " +
                           (c.what.fenced ? "a fenced acquire granted without fence"
                                          : "an unfenced acquire granted with a fence"));
      }
      ++m.grants;
      lease_state lease;
      lease.acquire = it->second;
      lease.token = ok->token;
      lease.start = r.t;
      lease.last_valid_until = *ok->valid_until;
      lease.fence = ok->fence;
      leases.emplace(std::make_pair(r.client, ok->token), std::move(lease));
      continue;
    }
    if (c.what.op == op::extend || c.what.op == op::check) {
      lease_state* lease = find_lease(r.client, c.what.token);
      if (lease && valid_until) lease->last_valid_until = *valid_until;
    }
  }

  // Claims, and the possible ends of extends whose outcome is unknown.
  for (auto& [key, lease] : leases) {
    const call_record& acquire = m.calls[lease.acquire];
    time_point end = lease.last_valid_until;
    claim_end ended_by = claim_end::valid_until;
    if (lease.release_invoked && *lease.release_invoked < end) {
      end = *lease.release_invoked;
      ended_by = claim_end::release;
    }
    if (lease.lost_at && *lease.lost_at < end) {
      end = *lease.lost_at;
      ended_by = claim_end::lost;
    }
    end = std::max(end, lease.start);
    time_point possible_end = end;
    for (std::size_t e : lease.extends) {
      const call_record& extend = m.calls[e];
      if (!extend.completed && extend.invoked < end)
        possible_end = std::max(possible_end, extend.invoked + extend.what.ttl);
    }
    for (const std::string& resource : acquire.what.resources) {
      m.claims.push_back({resource, lease.token, key.first, acquire.what.call, lease.start, end,
                          ended_by, possible_end, lease.fence});
    }
  }
  std::sort(m.claims.begin(), m.claims.end(), [](const claim& a, const claim& b) {
    return std::tie(a.resource, a.start, a.client, a.call) <
           std::tie(b.resource, b.start, b.client, b.call);
  });

  // Unknown outcomes.
  for (const call_record& c : m.calls) {
    if (c.completed) continue;
    unknown_call u;
    u.client = c.client;
    u.call = c.what.call;
    u.op = c.what.op;
    u.token = c.what.token;
    u.invoked = c.invoked;
    u.window_end =
        c.what.op == op::acquire || c.what.op == op::extend ? c.invoked + c.what.ttl : c.invoked;
    if (c.what.op == op::acquire) {
      u.resources = c.what.resources;
    } else if (const lease_state* lease = find_lease(c.client, c.what.token)) {
      u.resources = m.calls[lease->acquire].what.resources;
    }
    m.unknown.push_back(std::move(u));
  }
  return m;
}

// ---- rule 1 ----

std::vector<overlap> find_overlaps(const std::vector<claim>& claims) {
  std::map<std::string, std::vector<const claim*>> by_resource;
  for (const claim& c : claims)
    by_resource[c.resource].push_back(&c);
  std::vector<overlap> out;
  for (auto& [resource, list] : by_resource) {
    std::stable_sort(list.begin(), list.end(),
                     [](const claim* a, const claim* b) { return a->start < b->start; });
    std::vector<const claim*> active;
    for (const claim* c : list) {
      active.erase(std::remove_if(active.begin(), active.end(),
                                  [c](const claim* a) { return a->end <= c->start; }),
                   active.end());
      for (const claim* a : active) {
        if (a->client == c->client && a->call == c->call) continue;  // the same lease
        time_point to = std::min(a->end, c->end);
        if (to <= c->start) continue;
        overlap o;
        o.resource = resource;
        o.first = *a;
        o.second = *c;
        o.from = c->start;
        o.to = to;
        o.overlap_ms = to_ms(to - c->start);
        out.push_back(std::move(o));
      }
      if (c->end > c->start) active.push_back(c);
    }
  }
  return out;
}

std::string overlap::describe() const {
  return "overlap on " + q(resource) + " for " + ms_text(overlap_ms) + " from " + at(from) +
         " to " + at(to) + ": " + describe_claim(first) + " and " + describe_claim(second);
}

// ---- rule 3 ----

std::vector<fence_inversion> find_fence_inversions(const std::vector<claim>& claims) {
  std::map<std::string, std::vector<const claim*>> by_resource;
  for (const claim& c : claims)
    if (c.fence) by_resource[c.resource].push_back(&c);
  std::vector<fence_inversion> out;
  for (auto& [resource, list] : by_resource) {
    std::stable_sort(list.begin(), list.end(), [](const claim* a, const claim* b) {
      return std::tie(a->start, *a->fence) < std::tie(b->start, *b->fence);
    });
    for (std::size_t i = 1; i < list.size(); ++i) {
      if (*list[i]->fence > *list[i - 1]->fence) continue;
      out.push_back({resource, *list[i - 1], *list[i]});
    }
  }
  return out;
}

std::string fence_inversion::describe() const {
  return "fence inversion on " + q(resource) + ": " + describe_claim(earlier) +
         " was granted first, then " + describe_claim(later) + " with fence " +
         std::to_string(*later.fence) + ", not greater than " + std::to_string(*earlier.fence);
}

// ---- rule 4 ----

std::vector<lost_update> find_lost_updates(const std::vector<effect_record>& effects) {
  std::vector<const effect_record*> sorted;
  for (const effect_record& e : effects)
    if (e.what.accepted) sorted.push_back(&e);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const effect_record* a, const effect_record* b) { return a->t < b->t; });
  std::map<std::pair<std::string, std::int64_t>, const effect_record*> first_read;
  std::vector<lost_update> out;
  for (const effect_record* e : sorted) {
    auto [it, fresh] = first_read.emplace(std::make_pair(e->what.resource, e->what.read), e);
    if (!fresh) out.push_back({e->what.resource, *it->second, *e});
  }
  return out;
}

std::string lost_update::describe() const {
  return "lost update on " + q(resource) + ": " + describe_effect(first) + " and " +
         describe_effect(second) + " both read " + std::to_string(first.what.read);
}

std::vector<stale_write> find_stale_writes(const std::vector<effect_record>& effects,
                                           std::vector<std::string>* errors) {
  std::map<std::string, std::vector<const effect_record*>> by_resource;
  for (const effect_record& e : effects) {
    if (!e.what.accepted) continue;
    if (!e.what.fence) {
      if (errors)
        errors->push_back("client " + q(e.client) + ": accepted effect at " + at(e.t) + " on " +
                          q(e.what.resource) + " without fence, in a fenced run");
      continue;
    }
    by_resource[e.what.resource].push_back(&e);
  }
  std::vector<stale_write> out;
  for (auto& [resource, list] : by_resource) {
    std::stable_sort(list.begin(), list.end(),
                     [](const effect_record* a, const effect_record* b) { return a->t < b->t; });
    // best[i]: the effect with the largest fence among list[0..i] (the first to reach it).
    std::vector<const effect_record*> best(list.size());
    for (std::size_t i = 0; i < list.size(); ++i)
      best[i] = i > 0 && *best[i - 1]->what.fence >= *list[i]->what.fence ? best[i - 1] : list[i];
    for (const effect_record* x : list) {
      time_point cutoff = x->what.sent && *x->what.sent < x->t ? *x->what.sent : x->t;
      // Effects recorded strictly before the cutoff: list[0..n).
      auto n = static_cast<std::size_t>(
          std::lower_bound(list.begin(), list.end(), cutoff,
                           [](const effect_record* e, time_point t) { return e->t < t; }) -
          list.begin());
      if (n == 0) continue;
      const effect_record* y = best[n - 1];
      std::uint64_t fy = *y->what.fence;
      std::uint64_t fx = *x->what.fence;
      if (fy > fx || (fy == fx && y->what.token != x->what.token))
        out.push_back({resource, *y, *x});
    }
  }
  return out;
}

std::string stale_write::describe() const {
  return "stale write accepted on " + q(resource) + ": " + describe_effect(stale) +
         " was accepted after the store had accepted " + describe_effect(newer);
}

// ---- rule 5 ----

std::vector<budget_overrun> find_budget_overruns(const history_model& model, const budgets& b,
                                                 const std::vector<pause>& pauses) {
  std::vector<budget_overrun> out;
  for (const call_record& c : model.calls) {
    if (!c.completed) continue;
    nanoseconds took = *c.completed - c.invoked;
    for (const pause& p : pauses) {
      if (p.client != c.client) continue;
      const time_point from = std::max(p.span.from, c.invoked);
      const time_point to = std::min(p.span.to, *c.completed);
      if (from < to) took -= to - from;
    }
    std::optional<nanoseconds> budget;
    if (c.what.op == op::acquire) {
      budget = c.what.wait + c.what.ttl + b.acquire_slack;
    } else {
      budget = b.other_calls;
    }
    if (!budget || took <= *budget) continue;
    out.push_back({c.client, c.what.call, c.what.op, to_ms(took), to_ms(*budget)});
  }
  return out;
}

std::string budget_overrun::describe() const {
  return std::string("over budget: ") + to_string(op) + " " + call_name(client, call) + " took " +
         ms_text(took_ms) + ", budget " + ms_text(budget_ms);
}

std::vector<liveness_gap> find_liveness_gaps(const history_model& model,
                                             const std::vector<interval>& healthy,
                                             std::chrono::nanoseconds bound) {
  std::map<std::string, spans> covered;
  for (const claim& c : model.claims)
    covered[c.resource].push_back({c.start, c.possible_end});
  for (const unknown_call& u : model.unknown) {
    if (u.op != op::acquire) continue;
    for (const std::string& r : u.resources)
      covered[r].push_back({u.invoked, u.window_end});
  }
  for (auto& [resource, list] : covered)
    list = normalized(std::move(list));

  std::map<std::string, spans> wanted;
  for (const call_record& c : model.calls) {
    if (c.what.op != op::acquire || !c.completed) continue;
    for (const std::string& r : c.what.resources) {
      spans others;
      for (const std::string& other : c.what.resources) {
        if (other == r) continue;
        auto it = covered.find(other);
        if (it != covered.end()) others.insert(others.end(), it->second.begin(), it->second.end());
      }
      spans own = subtracted({{c.invoked, *c.completed}}, normalized(std::move(others)));
      wanted[r].insert(wanted[r].end(), own.begin(), own.end());
    }
  }

  spans healthy_spans;
  for (const interval& i : healthy)
    healthy_spans.push_back({i.from, i.to});
  healthy_spans = normalized(std::move(healthy_spans));

  std::vector<liveness_gap> out;
  for (auto& [resource, list] : wanted) {
    spans gaps = intersected(normalized(std::move(list)), healthy_spans);
    auto it = covered.find(resource);
    if (it != covered.end()) gaps = subtracted(gaps, it->second);
    for (const span& g : gaps) {
      if (g.second - g.first <= bound) continue;
      out.push_back({resource, g.first, g.second, to_ms(g.second - g.first)});
    }
  }
  return out;
}

std::string liveness_gap::describe() const {
  return "liveness gap on " + q(resource) + ": " + ms_text(gap_ms) + " from " + at(from) + " to " +
         at(to) + " with a healthy majority and an acquire in flight, but no holder";
}

std::string leftover_key::describe() const {
  return "leftover key " + q(key) + " on " + q(node) +
         " after every client stopped and the longest ttl passed";
}

// ---- rule 6 ----

std::vector<unsafe_resume> find_unsafe_resumes(const history_model& model,
                                               const std::vector<pause>& pauses) {
  std::vector<unsafe_resume> out;
  for (const pause& p : pauses) {
    for (const claim& k : model.claims) {
      if (k.client != p.client || !(p.span.from < k.end && k.end < p.span.to)) continue;
      // When the client was first told its lease was lost.
      std::optional<time_point> told;
      for (const lost_record& l : model.lost) {
        if (l.client == k.client && l.what.token == k.token && (!told || l.t < *told)) told = l.t;
      }
      for (const call_record& c : model.calls) {
        if (c.client != k.client || c.what.token != k.token || !c.completed) continue;
        if ((c.what.op == op::extend || c.what.op == op::check) && !c.succeeded &&
            c.error == "lock_lost" && (!told || *c.completed < *told))
          told = *c.completed;
      }
      for (const effect_record& e : model.effects) {
        if (e.client != k.client || e.what.token != k.token || e.what.resource != k.resource ||
            e.t < p.span.to)
          continue;
        if (told && *told <= e.t) continue;
        // The next other claim of the resource, granted after k and by the effect.
        const claim* next = nullptr;
        for (const claim& n : model.claims) {
          if (n.resource != k.resource || n.start <= k.start || n.start > e.t) continue;
          if (n.client == k.client && n.call == k.call) continue;
          if (!next || n.start < next->start) next = &n;
        }
        if (!next) continue;
        if (k.fence && next->fence && *k.fence < *next->fence) continue;
        out.push_back({k, p.span, e, *next});
      }
    }
  }
  return out;
}

std::string unsafe_resume::describe() const {
  std::string out = "unsafe resume on " + q(held.resource) + ": " + q(held.client) +
                    " was paused from " + at(pause.from) + " to " + at(pause.to) +
                    ", past the end of " + describe_claim(held) + ", then acted at " +
                    at(action.t) + " without having been told the lease was lost";
  if (next_holder) {
    out += ", after " + describe_claim(*next_holder) + " had claimed it";
    if (!held.fence || !next_holder->fence) out += " (no fences to tell them apart)";
  }
  return out;
}

// ---- the report ----

std::size_t report::violations() const noexcept {
  return overlaps.size() + fence_inversions.size() + lost_updates.size() + stale_writes.size() +
         unsafe_resumes.size();
}

std::size_t report::liveness_failures() const noexcept {
  return budget_overruns.size() + liveness_gaps.size() + leftover_keys.size();
}

std::vector<std::string> report::descriptions() const {
  std::vector<std::string> out;
  auto add = [&out](const auto& list) {
    for (const auto& item : list)
      out.push_back(item.describe());
  };
  add(overlaps);
  add(fence_inversions);
  add(lost_updates);
  add(stale_writes);
  add(unsafe_resumes);
  add(budget_overruns);
  add(liveness_gaps);
  add(leftover_keys);
  for (const std::string& e : model.errors)
    out.push_back("history error: " + e);
  return out;
}

std::string report::summary() const {
  std::string out = "grants " + std::to_string(grants()) + ", unknown " +
                    std::to_string(unknown()) + ", violations " + std::to_string(violations()) +
                    ", liveness failures " + std::to_string(liveness_failures());
  if (history_errors() > 0) out += ", history errors " + std::to_string(history_errors());
  return out;
}

namespace {

// Members of one JSON object, in the order added.
class json_members {
 public:
  json_members& add(const char* name, std::string_view text) { return raw(name, json_quote(text)); }
  json_members& add(const char* name, const char* text) {
    return add(name, std::string_view(text));
  }
  json_members& add(const char* name, std::uint64_t n) { return raw(name, std::to_string(n)); }
  json_members& add(const char* name, time_point t) {
    return raw(name, std::to_string(to_nanos(t)));
  }
  json_members& add(const char* name, double ms) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.3f", ms);
    return raw(name, buf);
  }
  json_members& add(const char* name, const std::vector<std::string>& items) {
    std::string list = "[";
    for (std::size_t i = 0; i < items.size(); ++i)
      list += (i > 0 ? "," : "") + json_quote(items[i]);
    return raw(name, list + "]");
  }
  json_members& raw(const char* name, const std::string& json) {
    if (!text_.empty()) text_ += ",";
    text_ += json_quote(name) + ":" + json;
    return *this;
  }
  std::string object() const { return "{" + text_ + "}"; }

 private:
  std::string text_;
};

std::string claim_json(const claim& c) {
  json_members j;
  j.add("resource", c.resource)
      .add("token", c.token)
      .add("client", c.client)
      .add("call", c.call)
      .add("start", c.start)
      .add("end", c.end)
      .add("ended_by", to_string(c.ended_by))
      .add("possible_end", c.possible_end);
  if (c.fence) j.add("fence", *c.fence);
  return j.object();
}

std::string effect_json(const effect_record& e) {
  json_members j;
  j.add("client", e.client)
      .add("t", e.t)
      .add("token", e.what.token)
      .add("resource", e.what.resource)
      .raw("read", std::to_string(e.what.read))
      .raw("wrote", std::to_string(e.what.wrote))
      .raw("accepted", e.what.accepted ? "true" : "false");
  if (e.what.fence) j.add("fence", *e.what.fence);
  if (e.what.sent) j.add("sent", *e.what.sent);
  return j.object();
}

std::string json_of(const overlap& o) {
  json_members j;
  j.add("resource", o.resource)
      .raw("first", claim_json(o.first))
      .raw("second", claim_json(o.second))
      .add("from", o.from)
      .add("to", o.to)
      .add("overlap_ms", o.overlap_ms);
  return j.add("description", o.describe()).object();
}

std::string json_of(const fence_inversion& f) {
  json_members j;
  j.add("resource", f.resource)
      .raw("earlier", claim_json(f.earlier))
      .raw("later", claim_json(f.later));
  return j.add("description", f.describe()).object();
}

std::string json_of(const lost_update& l) {
  json_members j;
  j.add("resource", l.resource)
      .raw("first", effect_json(l.first))
      .raw("second", effect_json(l.second));
  return j.add("description", l.describe()).object();
}

std::string json_of(const stale_write& s) {
  json_members j;
  j.add("resource", s.resource)
      .raw("newer", effect_json(s.newer))
      .raw("stale", effect_json(s.stale));
  return j.add("description", s.describe()).object();
}

std::string json_of(const unsafe_resume& u) {
  json_members j;
  j.raw("held", claim_json(u.held))
      .add("paused_from", u.pause.from)
      .add("paused_to", u.pause.to)
      .raw("action", effect_json(u.action));
  if (u.next_holder) j.raw("next_holder", claim_json(*u.next_holder));
  return j.add("description", u.describe()).object();
}

std::string json_of(const budget_overrun& b) {
  json_members j;
  j.add("client", b.client)
      .add("call", b.call)
      .add("op", to_string(b.op))
      .add("took_ms", b.took_ms)
      .add("budget_ms", b.budget_ms);
  return j.add("description", b.describe()).object();
}

std::string json_of(const liveness_gap& g) {
  json_members j;
  j.add("resource", g.resource).add("from", g.from).add("to", g.to).add("gap_ms", g.gap_ms);
  return j.add("description", g.describe()).object();
}

std::string json_of(const leftover_key& k) {
  json_members j;
  j.add("node", k.node).add("key", k.key);
  return j.add("description", k.describe()).object();
}

std::string json_of(const unknown_call& u) {
  json_members j;
  j.add("client", u.client).add("call", u.call).add("op", to_string(u.op));
  if (!u.token.empty()) j.add("token", u.token);
  j.add("resources", u.resources).add("invoked", u.invoked).add("window_end", u.window_end);
  return j.add("description", u.describe()).object();
}

template <class T>
std::string json_list(const std::vector<T>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i)
    out += (i > 0 ? "," : "") + json_of(items[i]);
  return out + "]";
}

}  // namespace

std::string report::to_json(std::string_view extra_members) const {
  json_members j;
  j.add("grants", static_cast<std::uint64_t>(grants()))
      .add("unknown", static_cast<std::uint64_t>(unknown()))
      .add("violations", static_cast<std::uint64_t>(violations()))
      .add("liveness_failures", static_cast<std::uint64_t>(liveness_failures()))
      .add("history_errors", static_cast<std::uint64_t>(history_errors()))
      .add("summary", summary())
      .raw("overlaps", json_list(overlaps))
      .raw("fence_inversions", json_list(fence_inversions))
      .raw("lost_updates", json_list(lost_updates))
      .raw("stale_writes", json_list(stale_writes))
      .raw("unsafe_resumes", json_list(unsafe_resumes))
      .raw("budget_overruns", json_list(budget_overruns))
      .raw("liveness_gaps", json_list(liveness_gaps))
      .raw("leftover_keys", json_list(leftover_keys))
      .raw("unknown_calls", json_list(model.unknown))
      .add("history_error_list", model.errors);
  std::string body = j.object();
  if (extra_members.empty()) return body;
  return "{" + std::string(extra_members) + "," + body.substr(1);
}

report check(const std::vector<record>& records, const check_options& options) {
  report r;
  r.model = build_model(records);
  r.overlaps = find_overlaps(r.model.claims);
  r.fence_inversions = find_fence_inversions(r.model.claims);
  if (options.effects == effect_mode::unfenced) {
    r.lost_updates = find_lost_updates(r.model.effects);
  } else {
    r.stale_writes = find_stale_writes(r.model.effects, &r.model.errors);
  }
  r.budget_overruns = find_budget_overruns(r.model, options.budgets, options.pauses);
  if (!options.healthy.empty())
    r.liveness_gaps = find_liveness_gaps(r.model, options.healthy, options.max_gap);
  r.unsafe_resumes = find_unsafe_resumes(r.model, options.pauses);
  return r;
}

}  // namespace redlock::torture
