#include "args.hpp"

#include <cmath>
#include <cstdio>

namespace redlock::cli {

namespace {

constexpr double year_ms = 365.0 * 24 * 3600 * 1000;

std::string quote(std::string_view s) {
  return "'" + std::string(s) + "'";
}

}  // namespace

std::chrono::milliseconds parse_duration(std::string_view text, std::string_view what) {
  std::size_t digits = 0;
  bool point = false;
  while (digits < text.size() &&
         ((text[digits] >= '0' && text[digits] <= '9') || (text[digits] == '.' && !point))) {
    point = point || text[digits] == '.';
    ++digits;
  }
  std::string_view number = text.substr(0, digits);
  std::string_view unit = text.substr(digits);
  const std::string expected = "expected a duration such as 500ms, 10s, 1.5s, 2m or 1h";
  if (number.empty() || number == ".") {
    throw usage_error("invalid " + std::string(what) + " " + quote(text) + ": " + expected);
  }
  double scale = 0;
  if (unit == "ms")
    scale = 1;
  else if (unit == "s")
    scale = 1000;
  else if (unit == "m")
    scale = 60'000;
  else if (unit == "h")
    scale = 3'600'000;
  else if (unit.empty())
    throw usage_error("invalid " + std::string(what) + " " + quote(text) +
                      ": the unit is missing (" + expected + ")");
  else
    throw usage_error("invalid " + std::string(what) + " " + quote(text) + ": unknown unit " +
                      quote(unit) + " (" + expected + ")");
  double ms = std::strtod(std::string(number).c_str(), nullptr) * scale;
  if (!(ms <= year_ms)) {
    throw usage_error("invalid " + std::string(what) + " " + quote(text) + ": at most one year");
  }
  return std::chrono::milliseconds(static_cast<long long>(std::llround(ms)));
}

long long parse_integer(std::string_view text, std::string_view what, long long low,
                        long long high) {
  bool digits = !text.empty() && text.size() <= 18;
  for (char c : text)
    digits = digits && c >= '0' && c <= '9';
  long long n = digits ? std::stoll(std::string(text)) : -1;
  if (!digits || n < low || n > high) {
    throw usage_error("invalid " + std::string(what) + " " + quote(text) +
                      ": expected a whole number from " + std::to_string(low) + " to " +
                      std::to_string(high));
  }
  return n;
}

std::string duration_text(std::chrono::milliseconds d) {
  long long ms = d.count();
  if (ms < 1000 || ms % 100 != 0) return std::to_string(ms) + "ms";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  char text[32];
  std::snprintf(text, sizeof text, "%.1fs", static_cast<double>(ms) / 1000);
  return text;
}

const std::string* parsed_args::value(const std::string& name) const {
  auto it = flags.find(name);
  return it == flags.end() ? nullptr : &it->second;
}

parsed_args parse_args(const std::vector<std::string>& args, const std::vector<flag>& known,
                       std::string_view command, bool stop_at_positional) {
  const std::string who = "redlock " + std::string(command);
  const std::string see = " (see " + who + " --help)";
  auto find = [&](std::string_view name, char letter) -> const flag* {
    for (const flag& f : known) {
      if ((letter != 0 && f.letter == letter) || (letter == 0 && f.name == name)) return &f;
    }
    return nullptr;
  };
  parsed_args out;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {
      out.positional.insert(out.positional.end(), args.begin() + static_cast<long>(i) + 1,
                            args.end());
      break;
    }
    if (a.size() < 2 || a[0] != '-') {
      if (stop_at_positional) {
        out.positional.push_back(a);
        std::size_t rest = i + 1;
        if (rest < args.size() && args[rest] == "--") ++rest;
        out.positional.insert(out.positional.end(), args.begin() + static_cast<long>(rest),
                              args.end());
        break;
      }
      out.positional.push_back(a);
      continue;
    }
    const flag* f = nullptr;
    std::optional<std::string> inline_value;
    std::string spelled;
    if (a[1] == '-') {
      std::string body = a.substr(2);
      if (auto eq = body.find('='); eq != std::string::npos) {
        inline_value = body.substr(eq + 1);
        body.resize(eq);
      }
      spelled = "--" + body;
      f = find(body, 0);
    } else {
      spelled = a.substr(0, 2);
      f = find("", a[1]);
      if (a.size() > 2) inline_value = a.substr(2);
    }
    if (f == nullptr) throw usage_error("unknown option " + quote(spelled) + see);
    if (!f->takes_value) {
      if (inline_value) {
        throw usage_error("option " + quote(spelled) + " takes no value" + see);
      }
      out.flags[f->name] = "";
      continue;
    }
    if (!inline_value) {
      if (i + 1 >= args.size()) {
        throw usage_error("option " + quote(spelled) + " needs a value (" + f->value_name + ")" +
                          see);
      }
      inline_value = args[++i];
    }
    out.flags[f->name] = *inline_value;
  }
  return out;
}

std::string flags_help(const std::vector<flag>& known) {
  std::string out;
  for (const flag& f : known) {
    std::string left = "  ";
    left += f.letter != 0 ? std::string("-") + f.letter + ", " : "    ";
    left += "--" + f.name;
    if (f.takes_value) left += " " + f.value_name;
    if (left.size() < 30)
      left.resize(30, ' ');
    else
      left += "\n" + std::string(30, ' ');
    out += left + f.help + "\n";
  }
  return out;
}

const std::vector<flag>& client_flags() {
  static const std::vector<flag> flags = {
      {"servers", 0, true, "URL,...",
       "the nodes: redis://, rediss://, unix:// or redis+sentinel:// URLs ($REDLOCK_SERVERS)"},
      {"node-timeout", 0, true, "D",
       "deadline of each request to a node ($REDLOCK_NODE_TIMEOUT; 50ms)"},
      {"key-prefix", 0, true, "P",
       "the Redis key of resource R is P + R ($REDLOCK_KEY_PREFIX; redlock:)"},
      {"tls-ca-file", 0, true, "F",
       "CA certificates to trust for rediss:// ($REDLOCK_TLS_CA_FILE)"},
      {"tls-ca-dir", 0, true, "D", "directory of hashed CA certificates ($REDLOCK_TLS_CA_DIR)"},
      {"tls-cert-file", 0, true, "F",
       "client certificate, for mutual TLS ($REDLOCK_TLS_CERT_FILE)"},
      {"tls-key-file", 0, true, "F", "its private key ($REDLOCK_TLS_KEY_FILE)"},
      {"tls-server-name", 0, true, "N",
       "name to verify and send as SNI ($REDLOCK_TLS_SERVER_NAME)"},
      {"tls-insecure", 0, false, "",
       "accept any server certificate: for tests only ($REDLOCK_TLS_INSECURE=1)"},
      {"no-quarantine", 0, false, "",
       "let servers that restarted recently vote ($REDLOCK_QUARANTINE=off); see docs/cli.md"},
      {"max-ttl", 0, true, "D",
       "the longest ttl any client of these servers uses: the quarantine's length "
       "($REDLOCK_MAX_TTL; 60s)"},
      {"sentinel-user", 0, true, "U",
       "the sentinels' own ACL user, for redis+sentinel:// URLs ($REDLOCK_SENTINEL_USER)"},
      {"sentinel-password", 0, true, "P",
       "the sentinels' own password (prefer $REDLOCK_SENTINEL_PASSWORD: a flag shows in ps)"},
      {"replica-acks", 0, true, "N",
       "a node's vote counts once N of its replicas have the write (WAIT), for Sentinel groups "
       "($REDLOCK_REPLICA_ACKS; 0: off)"},
  };
  return flags;
}

client_options client_options_from(const parsed_args& args, const env_lookup& env) {
  // The flag, else the environment variable; nullopt when neither is set.
  auto setting = [&](const std::string& name,
                     const std::string& variable) -> std::optional<std::string> {
    if (const std::string* v = args.value(name)) return *v;
    return env(variable);
  };
  auto is_on = [&](const std::string& name, const std::string& variable, const char* on,
                   const char* off) {
    if (args.has(name)) return true;
    std::optional<std::string> v = env(variable);
    if (!v || v->empty() || *v == off) return false;
    if (*v == on) return true;
    throw usage_error("invalid $" + variable + " " + quote(*v) + ": expected " + on + " or " + off);
  };
  client_options o;
  std::optional<std::string> servers = setting("servers", "REDLOCK_SERVERS");
  if (!servers || servers->empty()) {
    throw usage_error(
        "no servers: give --servers URL,URL,... or set REDLOCK_SERVERS (e.g. "
        "'redis://10.0.0.1:6379,redis://10.0.0.2:6379,redis://10.0.0.3:6379')");
  }
  std::size_t start = 0;
  while (start <= servers->size()) {
    std::size_t comma = servers->find(',', start);
    if (comma == std::string::npos) comma = servers->size();
    if (comma == start) {
      throw usage_error("invalid --servers: an empty URL at position " +
                        std::to_string(o.endpoints.size() + 1) +
                        " (URLs are separated by one ',')");
    }
    std::string piece = servers->substr(start, comma - start);
    // A ',' is a separator only before a scheme: one inside a password stays in its URL, so
    // that the library's message about that URL masks the whole password, and so do those
    // between the sentinels of a redis+sentinel:// URL.
    bool url_start = false;
    for (const char* scheme :
         {"redis://", "rediss://", "unix://", "redis+sentinel://", "rediss+sentinel://"})
      url_start = url_start || piece.rfind(scheme, 0) == 0;
    if (!url_start && !o.endpoints.empty()) {
      o.endpoints.back() += "," + piece;
    } else {
      o.endpoints.push_back(piece);
    }
    start = comma + 1;
  }
  if (auto v = setting("node-timeout", "REDLOCK_NODE_TIMEOUT"))
    o.node_timeout = parse_duration(*v, "--node-timeout");
  if (auto v = setting("key-prefix", "REDLOCK_KEY_PREFIX")) o.key_prefix = *v;
  if (auto v = setting("tls-ca-file", "REDLOCK_TLS_CA_FILE")) o.tls.ca_file = *v;
  if (auto v = setting("tls-ca-dir", "REDLOCK_TLS_CA_DIR")) o.tls.ca_dir = *v;
  if (auto v = setting("tls-cert-file", "REDLOCK_TLS_CERT_FILE")) o.tls.cert_file = *v;
  if (auto v = setting("tls-key-file", "REDLOCK_TLS_KEY_FILE")) o.tls.key_file = *v;
  if (auto v = setting("tls-server-name", "REDLOCK_TLS_SERVER_NAME")) o.tls.server_name = *v;
  o.tls.insecure_skip_verify = is_on("tls-insecure", "REDLOCK_TLS_INSECURE", "1", "0");
  o.quarantine.enabled = !is_on("no-quarantine", "REDLOCK_QUARANTINE", "off", "on");
  if (auto v = setting("max-ttl", "REDLOCK_MAX_TTL"))
    o.quarantine.max_ttl = parse_duration(*v, "--max-ttl");
  if (auto v = setting("sentinel-user", "REDLOCK_SENTINEL_USER")) o.sentinel_user = *v;
  if (auto v = setting("sentinel-password", "REDLOCK_SENTINEL_PASSWORD")) o.sentinel_password = *v;
  if (auto v = setting("replica-acks", "REDLOCK_REPLICA_ACKS"))
    o.replica_ack.replicas = static_cast<int>(parse_integer(*v, "--replica-acks", 0, 1000));
  return o;
}

std::vector<flag> acquire_flags() {
  return {
      {"ttl", 0, true, "D", "how long the lock lives on each node (30s)"},
      {"wait", 'w', true, "D",
       "wait up to D while the lock is busy or nodes fail (default: no limit)"},
      {"nonblock", 'n', false, "", "one attempt: fail at once if the lock is busy"},
      {"fence", 0, false, "", "ask for a fencing token (REDLOCK_FENCE)"},
      {"conflict-exit-code", 'E', true, "N",
       "exit status when the lock is busy (0-255; default 1)"},
  };
}

acquire_choice acquire_choice_from(const parsed_args& args) {
  acquire_choice c;
  c.options.ttl = default_cli_ttl;
  c.options.wait = std::chrono::milliseconds::max();  // like flock(1): wait until it is granted
  c.conflict_status = exit_status::busy;
  if (const std::string* v = args.value("ttl")) c.options.ttl = parse_duration(*v, "--ttl");
  if (args.has("nonblock") && args.has("wait")) {
    throw usage_error("-n/--nonblock and -w/--wait exclude each other");
  }
  if (args.has("nonblock")) c.options.wait = std::chrono::milliseconds(0);
  if (const std::string* v = args.value("wait")) c.options.wait = parse_duration(*v, "--wait");
  c.options.fencing = args.has("fence");
  if (const std::string* v = args.value("conflict-exit-code"))
    c.conflict_status = static_cast<int>(parse_integer(*v, "--conflict-exit-code", 0, 255));
  return c;
}

}  // namespace redlock::cli
