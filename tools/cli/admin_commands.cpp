// SPDX-License-Identifier: MIT
// Subcommands on the whole cache: clear, flush, stats, watch, raw.
#include "cli.hpp"

#if defined(ASIOCACHE_HAS_MEMORY)
#include "asiocache/backends/memory.hpp"
#endif
#include "asiocache/backends/redis_cluster.hpp"

#include <fmt/format.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <charconv>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string_view>
#include <utility>

namespace asiocache::cli {
namespace {

auto reply_json(raw_reply const& r) -> nlohmann::json {
    switch (r.type) {
        case raw_reply::kind::nil:
            return nullptr;
        case raw_reply::kind::integer:
            return r.integer;
        case raw_reply::kind::string:
            return session::to_json(r.str);
        case raw_reply::kind::status:
            return {{"status", r.str}};
        case raw_reply::kind::error:
            return {{"error", r.str}};
        case raw_reply::kind::array: {
            auto out = nlohmann::json::array();
            for (auto const& e : r.elements) {
                out.push_back(reply_json(e));
            }
            return out;
        }
    }
    return nullptr;
}

// redis-cli's layout: strings as they are, "(integer) 3", "(nil)", arrays numbered.
void print_reply(raw_reply const& r, std::string const& indent) {
    switch (r.type) {
        case raw_reply::kind::nil:
            std::printf("(nil)\n");
            return;
        case raw_reply::kind::integer:
            std::printf("(integer) %lld\n", static_cast<long long>(r.integer));
            return;
        case raw_reply::kind::string:
        case raw_reply::kind::status:
            std::fwrite(r.str.data(), 1, r.str.size(), stdout);
            std::fputc('\n', stdout);
            return;
        case raw_reply::kind::error:
            std::printf("(error) %s\n", r.str.c_str());
            return;
        case raw_reply::kind::array:
            if (r.elements.empty()) {
                std::printf("(empty array)\n");
            }
            for (std::size_t i = 0; i < r.elements.size(); ++i) {
                std::printf("%s%zu) ", i == 0 ? "" : indent.c_str(), i + 1);
                print_reply(r.elements[i], indent + "   ");
            }
            return;
    }
}

// ---- a backend's own figures, for stats and watch ----

// Named figures in the order they are printed; a JSON object (sorted) only in --json output.
using fields = std::vector<std::pair<std::string, nlohmann::json>>;

auto to_object(fields const& f) -> nlohmann::json {
    auto out = nlohmann::json::object();
    for (auto const& [k, v] : f) {
        out[k] = v;
    }
    return out;
}

// A figure as the server wrote it, as JSON: a number where the text is one, else the text.
auto figure(std::string_view text) -> nlohmann::json {
    auto const* end = text.data() + text.size();
    if (!text.empty() && text.front() != '-') {
        std::uint64_t u = 0;
        if (auto [p, ec] = std::from_chars(text.data(), end, u); ec == std::errc{} && p == end) {
            return u;
        }
    }
    std::int64_t i = 0;
    if (auto [p, ec] = std::from_chars(text.data(), end, i); ec == std::errc{} && p == end) {
        return i;
    }
    double d = 0;
    if (auto [p, ec] = std::from_chars(text.data(), end, d); ec == std::errc{} && p == end) {
        return d;
    }
    return std::string(text);
}

auto count_of(std::string_view text) -> std::uint64_t {
    std::uint64_t u = 0;
    std::from_chars(text.data(), text.data() + text.size(), u);
    return u;
}

// hits / lookups, or null when there were no lookups (a ratio of nothing is not 0).
auto ratio(std::uint64_t hits, std::uint64_t lookups) -> nlohmann::json {
    if (lookups == 0) {
        return nullptr;
    }
    return static_cast<double>(hits) / static_cast<double>(lookups);
}

// Redis's used_memory_human form: 1023B, 1.50K, 2.25M.
auto human_bytes(std::uint64_t n) -> std::string {
    if (n < 1024) {
        return fmt::format("{}B", n);
    }
    auto v = static_cast<double>(n) / 1024;
    for (char const* unit : {"K", "M", "G", "T"}) {
        if (v < 1024 || std::string_view(unit) == "T") {
            return fmt::format("{:.2f}{}", v, unit);
        }
        v /= 1024;
    }
    return {};
}

using text_map = std::map<std::string, std::string, std::less<>>;

// INFO's text: "# Section" headings and "name:value" lines ending in CRLF.
auto parse_info(std::string_view text) -> text_map {
    text_map out;
    while (!text.empty()) {
        auto eol = text.find('\n');
        auto line = text.substr(0, eol);
        text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        auto colon = line.find(':');
        if (line.empty() || line.front() == '#' || colon == std::string_view::npos) {
            continue;
        }
        out.emplace(std::string(line.substr(0, colon)), std::string(line.substr(colon + 1)));
    }
    return out;
}

// One field of an INFO keyspace line: "keys=3,expires=0,avg_ttl=0".
auto keyspace_field(std::string_view line, std::string_view name) -> std::uint64_t {
    while (!line.empty()) {
        auto comma = line.find(',');
        auto part = line.substr(0, comma);
        line = comma == std::string_view::npos ? std::string_view{} : line.substr(comma + 1);
        if (part.size() > name.size() && part.starts_with(name) && part[name.size()] == '=') {
            return count_of(part.substr(name.size() + 1));
        }
    }
    return 0;
}

auto address_of(endpoint const& e, std::uint16_t default_port) -> std::string {
    auto port = e.port != 0 ? e.port : default_port;
    return e.host.find(':') != std::string::npos ? fmt::format("[{}]:{}", e.host, port)
                                                 : fmt::format("{}:{}", e.host, port);
}

// What watch makes its line of, summed over the servers.
struct counters {
    std::uint64_t ops = 0;      // Redis: every command; memcached: gets + sets; memory: lookups
    std::uint64_t hits = 0;     // lookups that found a value
    std::uint64_t lookups = 0;  // hits + misses
    std::uint64_t memory = 0;   // bytes used (memcached and memory: by the items)
    std::uint64_t keys = 0;     // Redis: in the URL's database; else items held
};

// One server's figures at one moment, or why it did not answer.
struct reading {
    std::string address;  // "host:port", a socket path, or "memory"
    fields figures;       // what stats prints, in order
    counters c;
    std::string error;  // set when the server did not answer

    [[nodiscard]] auto ok() const -> bool { return error.empty(); }
    // The error, naming the server unless it already does.
    [[nodiscard]] auto error_at() const -> std::string {
        return error.find(address) != std::string::npos ? error : address + ": " + error;
    }
};

auto reading_json(reading const& r) -> nlohmann::json {
    auto out = to_object(r.figures);
    out["address"] = r.address;
    if (!r.ok()) {
        out["error"] = r.error;
    }
    return out;
}

// `key: value` lines; sizes in bytes get their human form beside them.
void print_fields(fields const& f) {
    for (auto const& [k, v] : f) {
        std::string text;
        if (v.is_string()) {
            text = v.get<std::string>();
        } else if (v.is_null()) {
            text = "-";
        } else if (k == "hit_ratio") {
            text = fmt::format("{:.4f}", v.get<double>());
        } else if ((k == "bytes" || k == "limit_maxbytes") && v.is_number_unsigned()) {
            text = fmt::format("{} ({})", v.dump(), human_bytes(v.get<std::uint64_t>()));
        } else {
            text = v.dump();
        }
        std::printf("%s: %s\n", k.c_str(), text.c_str());
    }
}

auto describe(std::exception_ptr const& e) -> std::string {
    try {
        std::rethrow_exception(e);
    } catch (boost::system::system_error const& se) {
        return error_detail(se);
    } catch (std::exception const& ex) {
        return ex.what();
    }
}

// Copies a server's statistics (name -> text) into a reading: as they are, or as numbers.
struct stat_reader {
    text_map const& stats;
    reading& r;

    // The statistic, as a figure, if the server gave it.
    void add(std::string_view name) const {
        if (auto it = stats.find(name); it != stats.end()) {
            r.figures.emplace_back(std::string(name), figure(it->second));
        }
    }
    // The statistic as text (a version), if the server gave it.
    void add_text(std::string_view name) const {
        if (auto it = stats.find(name); it != stats.end()) {
            r.figures.emplace_back(std::string(name), it->second);
        }
    }
    // The statistic as a count; 0 if absent.
    [[nodiscard]] auto number(std::string_view name) const -> std::uint64_t {
        auto it = stats.find(name);
        return it == stats.end() ? std::uint64_t{0} : count_of(it->second);
    }
};

void fill_redis(reading& r, text_map const& info, int db) {
    stat_reader const in{info, r};
    auto add = [&in](std::string_view name) { in.add(name); };
    auto number = [&in](std::string_view name) { return in.number(name); };
    in.add_text("redis_version");
    add("uptime_in_seconds");
    add("connected_clients");
    add("keyspace_hits");
    add("keyspace_misses");
    r.c.hits = number("keyspace_hits");
    r.c.lookups = r.c.hits + number("keyspace_misses");
    r.figures.emplace_back("hit_ratio", ratio(r.c.hits, r.c.lookups));
    add("used_memory");
    add("used_memory_human");
    add("maxmemory");
    add("evicted_keys");
    add("expired_keys");
    add("total_commands_processed");
    add("instantaneous_ops_per_sec");
    r.c.ops = number("total_commands_processed");
    r.c.memory = number("used_memory");
    // A database with no keys has no keyspace line.
    auto it = info.find(fmt::format("db{}", db));
    auto line = it == info.end() ? std::string_view{} : std::string_view(it->second);
    r.c.keys = keyspace_field(line, "keys");
    r.figures.emplace_back("db", db);
    r.figures.emplace_back("keys", r.c.keys);
    r.figures.emplace_back("expires", keyspace_field(line, "expires"));
}

void fill_memcached(reading& r, raw_reply const& reply) {
    // The backend's reply per server: its name, then name and value of each statistic.
    text_map st;
    auto const& e = reply.elements;
    if (!e.empty()) {
        r.address = e.front().str;
    }
    for (std::size_t i = 1; i + 1 < e.size(); i += 2) {
        st.emplace(e[i].str, e[i + 1].str);
    }
    stat_reader const in{st, r};
    auto add = [&in](std::string_view name) { in.add(name); };
    auto number = [&in](std::string_view name) { return in.number(name); };
    in.add_text("version");
    add("uptime");
    add("curr_connections");
    add("get_hits");
    add("get_misses");
    r.c.hits = number("get_hits");
    r.c.lookups = r.c.hits + number("get_misses");
    r.figures.emplace_back("hit_ratio", ratio(r.c.hits, r.c.lookups));
    add("cmd_get");
    add("cmd_set");
    add("evictions");
    add("curr_items");
    add("bytes");
    add("limit_maxbytes");
    r.c.ops = number("cmd_get") + number("cmd_set");
    r.c.memory = number("bytes");
    r.c.keys = number("curr_items");
}

enum class source { memory, redis, redis_cluster, memcached, other };

auto backend_kind(session& s) -> source {
    auto name = s.store().backend()->traits().name;
    if (name == "redis") {
        return source::redis;
    }
    if (name == "memcached") {
        return source::memcached;
    }
    if (name == "redis-cluster") {
        return source::redis_cluster;
    }
    return name == "memory" ? source::memory : source::other;
}

// Reads the session's backend's figures: Redis's INFO; each cluster master's INFO; each
// memcached server's stats, asked
// through a cache of its own, since the backend's `raw stats` fails as a whole when one server
// is down; the memory backend's counters.
class probe {
public:
    explicit probe(session& s) : s_(s), kind_(backend_kind(s)) {
        auto const& cfg = s.config();
        if (kind_ == source::redis) {
            redis_address_ = cfg.backend.path.empty() && !cfg.backend.endpoints.empty()
                                 ? address_of(cfg.backend.endpoints.front(), 6379)
                                 : cfg.backend.path;
        } else if (kind_ == source::memcached) {
            for (auto const& e : cfg.backend.endpoints) {
                auto one = cfg;
                one.backend.endpoints = {e};
                servers_.emplace_back(address_of(e, 11211), s.make_cache(std::move(one)));
            }
        }
    }
    probe(probe const&) = delete;
    auto operator=(probe const&) -> probe& = delete;
    ~probe() {
        for (auto& [address, c] : servers_) {
            try {
                s_.run(c.close());
            } catch (std::exception const&) {
                // The figures are already out.
            }
        }
    }

    auto read() -> std::vector<reading> {
        switch (kind_) {
            case source::redis:
                return {read_redis()};
            case source::redis_cluster:
                return read_redis_cluster();
            case source::memcached:
                return read_memcached();
            case source::memory:
                return read_memory();
            case source::other:
                break;
        }
        throw_error(errc::not_supported, fmt::format("{}: no figures to show for this backend",
                                                     s_.store().backend()->traits().name));
    }

private:
    auto read_redis() -> reading {
        reading r{.address = redis_address_};
        try {
            // One INFO (the default sections: clients, memory, stats, keyspace, ...) is one
            // consistent snapshot, where INFO stats, INFO memory... would be several.
            auto reply = s_.run(s_.store().raw({"INFO"}));
            if (reply.type == raw_reply::kind::error) {
                r.error = reply.str;
            } else if (reply.type != raw_reply::kind::string &&
                       reply.type != raw_reply::kind::status) {
                r.error = "INFO: the reply is not text";
            } else {
                fill_redis(r, parse_info(reply.str), s_.config().backend.db.value_or(0));
            }
        } catch (std::exception const&) {
            r.error = describe(std::current_exception());
        }
        return r;
    }

    // Every master of the current topology, asked at once; one that does not answer is an
    // error on its line, the others are shown.
    auto read_redis_cluster() -> std::vector<reading> {
        auto& b = *s_.store().backend();
        auto const limit = s_.store().options().timeout;
        auto within = [limit] {
            return limit.count() == 0 ? deadline::never() : deadline::after(limit);
        };
        auto masters = s_.run(backends::redis_cluster_masters(b, within()));
        std::vector<task<raw_reply>> work;
        for (auto const& m : masters) {
            work.push_back(backends::redis_cluster_raw_on(b, m, {"INFO"}, within()));
        }
        auto done = s_.run_each(std::move(work));
        std::vector<reading> out;
        for (std::size_t i = 0; i < done.size(); ++i) {
            reading r{.address = masters[i]};
            try {
                auto reply = done[i].get();
                if (reply.type == raw_reply::kind::error) {
                    r.error = reply.str;
                } else {
                    fill_redis(r, parse_info(reply.str), 0);
                }
            } catch (std::exception const&) {
                r.error = describe(std::current_exception());
            }
            out.push_back(std::move(r));
        }
        return out;
    }

    auto read_memcached() -> std::vector<reading> {
        std::vector<task<raw_reply>> work;
        for (auto& [address, c] : servers_) {
            work.push_back(c.raw({"stats"}));
        }
        auto done = s_.run_each(std::move(work));
        std::vector<reading> out;
        for (std::size_t i = 0; i < done.size(); ++i) {
            reading r{.address = servers_[i].first};
            try {
                auto reply = done[i].get();
                if (reply.elements.size() != 1) {
                    throw std::runtime_error("stats: not one reply per server");
                }
                fill_memcached(r, reply.elements.front());
            } catch (std::exception const&) {
                r.error = describe(std::current_exception());
            }
            out.push_back(std::move(r));
        }
        return out;
    }

    auto read_memory() -> std::vector<reading> {
        reading r{.address = "memory"};
#if defined(ASIOCACHE_HAS_MEMORY)
        if (auto m = std::dynamic_pointer_cast<backends::memory_backend>(s_.store().backend())) {
            auto st = m->stats();
            r.c = {.ops = st.hits + st.misses,
                   .hits = st.hits,
                   .lookups = st.hits + st.misses,
                   .memory = st.bytes,
                   .keys = st.entries};
        }
#endif
        return {r};
    }

    session& s_;
    source kind_;
    std::string redis_address_;
    std::vector<std::pair<std::string, cache>> servers_;
};

// ---- watch ----

struct watch_args {
    int interval_ms = 1000;
    int count = 0;  // 0: until a signal
};

// One line of watch: figures over the interval between two readings.
struct watch_line {
    double elapsed_s = 0;
    std::optional<counters> delta;  // ops, hits and lookups; none without two readings
    std::optional<double> ops_per_sec;
    std::optional<double> hit_ratio;  // none also when nothing was looked up
    std::optional<std::uint64_t> memory;
    std::optional<std::uint64_t> keys;
    std::vector<reading> errors;  // the servers that did not answer
};

auto compare(std::vector<reading> const& before, std::vector<reading> const& now, double elapsed_s)
    -> watch_line {
    watch_line l{.elapsed_s = elapsed_s};
    counters delta;
    bool paired = false;
    for (std::size_t i = 0; i < now.size(); ++i) {
        auto const& n = now[i].c;
        if (!now[i].ok()) {
            l.errors.push_back(now[i]);
            continue;
        }
        l.memory = l.memory.value_or(0) + n.memory;
        l.keys = l.keys.value_or(0) + n.keys;
        if (i >= before.size() || !before[i].ok()) {
            continue;
        }
        auto const& b = before[i].c;
        // Counters that went down belong to a restarted server: no delta from it this time.
        if (n.ops < b.ops || n.hits < b.hits || n.lookups < b.lookups) {
            continue;
        }
        paired = true;
        delta.ops += n.ops - b.ops;
        delta.hits += n.hits - b.hits;
        delta.lookups += n.lookups - b.lookups;
    }
    if (paired) {
        l.delta = delta;
    }
    if (paired && elapsed_s > 0) {
        l.ops_per_sec = static_cast<double>(delta.ops) / elapsed_s;
        if (delta.lookups > 0) {
            l.hit_ratio = static_cast<double>(delta.hits) / static_cast<double>(delta.lookups);
        }
    }
    return l;
}

auto line_json(watch_line const& l) -> nlohmann::json {
    auto opt = [](auto const& v) -> nlohmann::json {
        if (v) {
            return *v;
        }
        return nullptr;
    };
    auto now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch());
    nlohmann::json doc{
        {"time", std::round(now.count() * 1000) / 1000},
        {"interval_ms", std::round(l.elapsed_s * 1e4) / 10},
        {"ops", l.delta ? nlohmann::json(l.delta->ops) : nullptr},
        {"ops_per_sec",
         l.ops_per_sec ? nlohmann::json(std::round(*l.ops_per_sec * 1000) / 1000) : nullptr},
        {"hits", l.delta ? nlohmann::json(l.delta->hits) : nullptr},
        {"misses", l.delta ? nlohmann::json(l.delta->lookups - l.delta->hits) : nullptr},
        {"hit_ratio", opt(l.hit_ratio)},
        {"memory", opt(l.memory)},
        {"memory_human", l.memory ? nlohmann::json(human_bytes(*l.memory)) : nullptr},
        {"keys", opt(l.keys)},
    };
    if (!l.errors.empty()) {
        auto list = nlohmann::json::array();
        for (auto const& r : l.errors) {
            list.push_back({{"address", r.address}, {"error", r.error}});
        }
        doc["errors"] = std::move(list);
    }
    return doc;
}

constexpr auto watch_header = "      ops/s   hits     memory       keys";

auto line_text(watch_line const& l, bool several_servers) -> std::string {
    auto text = fmt::format(
        "{:>11} {:>6} {:>10} {:>10}", l.ops_per_sec ? fmt::format("{:.1f}", *l.ops_per_sec) : "-",
        l.hit_ratio ? fmt::format("{:.1f}%", *l.hit_ratio * 100) : "-",
        l.memory ? human_bytes(*l.memory) : "-", l.keys ? std::to_string(*l.keys) : "-");
    for (auto const& r : l.errors) {
        text += fmt::format("  error: {}", several_servers ? r.error_at() : r.error);
    }
    return text;
}

// Waits until `at`, or until SIGINT or SIGTERM; true on a signal. A signal that came while
// no wait was pending (during a refresh) was queued by the signal_set and ends this at once.
auto wait_until(boost::asio::steady_timer& timer, boost::asio::signal_set& signals,
                std::chrono::steady_clock::time_point at) -> task<bool> {
    using namespace boost::asio::experimental::awaitable_operators;
    timer.expires_at(at);
    auto tick = timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    auto signal = signals.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    auto which = co_await (std::move(tick) || std::move(signal));
    co_return which.index() == 1;
}

auto watch(session& s, watch_args const& args) -> int {
    probe p(s);
    boost::asio::steady_timer timer(s.executor());
    boost::asio::signal_set signals(s.executor(), SIGINT, SIGTERM);
    auto const interval = std::chrono::milliseconds(args.interval_ms);
    using clock = std::chrono::steady_clock;

    // The first reading is the baseline: every line printed covers one interval.
    auto before = p.read();
    auto before_at = clock::now();
    bool several = before.size() > 1;
    int rc = exit_ok;
    for (int printed = 0; args.count == 0 || printed < args.count; ++printed) {
        if (s.run(wait_until(timer, signals, before_at + interval))) {
            return exit_ok;  // Ctrl-C is how watch is meant to end
        }
        auto now = p.read();
        auto now_at = clock::now();
        auto line = compare(before, now, std::chrono::duration<double>(now_at - before_at).count());
        if (s.json_output()) {
            session::print_json(line_json(line));
        } else {
            if (printed % 20 == 0) {
                std::puts(watch_header);
            }
            std::puts(line_text(line, several).c_str());
        }
        std::fflush(stdout);
        rc = line.errors.empty() ? exit_ok : exit_backend;
        before = std::move(now);
        before_at = now_at;
    }
    return rc;
}

}  // namespace

void add_clear(CLI::App& app, action& out) {
    auto* cmd = app.add_subcommand(
        "clear",
        "Remove the keys of the namespace (--namespace, or ?namespace= in the URL) and "
        "print how many were removed; other keys stay. Memcached cannot list keys "
        "(exit 3)");
    cmd->callback([&out] {
        out = [](session& s) {
            if (s.store().options().ns.empty()) {
                throw usage_error(
                    "clear removes one namespace's keys: give --namespace NS or ?namespace=NS "
                    "in the URL (flush removes every key)");
            }
            auto removed = s.run(s.store().clear());
            if (s.json_output()) {
                session::print_json({{"removed", removed}});
            } else {
                std::printf("%zu\n", removed);
            }
            return exit_ok;
        };
    });
}

void add_flush(CLI::App& app, action& out) {
    auto* cmd =
        app.add_subcommand("flush",
                           "Remove every key the backend holds, whatever its namespace (FLUSHDB, "
                           "flush_all)");
    cmd->callback([&out] {
        out = [](session& s) {
            s.run(s.store().clear_all());
            if (s.json_output()) {
                session::print_json({{"ok", true}});
            }
            return exit_ok;
        };
    });
}

void add_stats(CLI::App& app, action& out) {
    auto* cmd = app.add_subcommand(
        "stats",
        "Print what the backend is and can do, then its own figures: Redis's INFO (hits, "
        "misses, memory, evictions, commands, clients, the URL's database keys), each Redis "
        "Cluster master's INFO, each memcached server's stats, the memory backend's counters. Exit 3 if a server did not "
        "answer (the rest is still printed)");
    cmd->callback([&out] {
        out = [](session& s) {
            auto const& b = s.store().backend();
            auto const& t = b->traits();
            fields doc{
                {"url", s.printable_url()},
                {"backend", std::string(t.name)},
                {"serializer", std::string(s.store().value_serializer().name())},
                {"namespace", s.store().options().ns},
                {"enforces_deadlines", t.enforces_deadlines},
                {"supports_ttl", t.supports_ttl},
                {"supports_clear_namespace", t.supports_clear_namespace},
                {"ttl_granularity_ms", t.ttl_granularity.count()},
                {"max_key_size", t.max_key_size},
            };
            std::vector<reading> servers;
#if defined(ASIOCACHE_HAS_MEMORY)
            if (auto m = std::dynamic_pointer_cast<backends::memory_backend>(b)) {
                auto st = m->stats();
                doc.emplace_back("hits", st.hits);
                doc.emplace_back("misses", st.misses);
                doc.emplace_back("evictions", st.evictions);
                doc.emplace_back("expirations", st.expirations);
                doc.emplace_back("entries", st.entries);
                doc.emplace_back("bytes", st.bytes);
            }
#endif
            auto kind = backend_kind(s);
            if (kind == source::redis || kind == source::redis_cluster ||
                kind == source::memcached) {
                probe p(s);
                servers = p.read();
            }
            int rc = exit_ok;
            for (auto const& r : servers) {
                if (!r.ok()) {
                    std::fprintf(stderr, "asiocache: %s: %s\n", s.printable_url().c_str(),
                                 r.error_at().c_str());
                    rc = exit_backend;
                }
            }
            if (s.json_output()) {
                auto json = to_object(doc);
                if (kind == source::redis) {
                    json["server"] = reading_json(servers.at(0));
                } else if (kind == source::memcached || kind == source::redis_cluster) {
                    auto list = nlohmann::json::array();
                    for (auto const& r : servers) {
                        list.push_back(reading_json(r));
                    }
                    json["servers"] = std::move(list);
                }
                session::print_json(json);
                return rc;
            }
            print_fields(doc);
            for (auto const& r : servers) {
                std::printf("\n# server %s\n", r.address.c_str());
                if (!r.ok()) {
                    std::printf("error: %s\n", r.error.c_str());
                }
                print_fields(r.figures);
            }
            return rc;
        };
    });
}

void add_watch(CLI::App& app, action& out) {
    auto args = std::make_shared<watch_args>();
    auto* cmd = app.add_subcommand(
        "watch",
        "Print the backend's load once a second, one line per refresh as redis-cli --stat "
        "does: operations per second (Redis: every command, this one's INFO included; "
        "memcached: gets and sets, summed over the servers; memory: lookups), the hit ratio "
        "over the interval, memory used and keys. With --json, one JSON object per line. A "
        "refresh that fails prints its error and watching goes on; Ctrl-C stops it (exit 0)");
    cmd->add_option("--interval", args->interval_ms, "Milliseconds between refreshes")
        ->default_val(1000)
        ->check(CLI::Range(100, 86'400'000));
    cmd->add_option("--count", args->count,
                    "Stop after N refreshes (default: until Ctrl-C); then exit 3 if the last "
                    "one failed")
        ->check(CLI::PositiveNumber);
    cmd->callback([&out, args] { out = [args](session& s) { return watch(s, *args); }; });
}

void add_raw(CLI::App& app, action& out) {
    auto args = std::make_shared<std::vector<std::string>>();
    auto* cmd = app.add_subcommand(
        "raw",
        "Send a backend-native command as it is, e.g. raw INFO server, or raw -- SET k "
        "-1 for arguments that start with '-'. Keys are not namespaced. An error reply "
        "exits 3");
    cmd->add_option("command", *args, "The command and its arguments")->required();
    cmd->callback([&out, args] {
        out = [args](session& s) {
            auto reply = s.run(s.store().raw(*args));
            if (s.json_output()) {
                session::print_json(reply_json(reply));
            } else {
                print_reply(reply, "");
            }
            return reply.type == raw_reply::kind::error ? exit_backend : exit_ok;
        };
    });
}

}  // namespace asiocache::cli
