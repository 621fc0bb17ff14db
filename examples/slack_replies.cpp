// SPDX-License-Identifier: MIT
// The asiocache demo: a Slack bot's thread fetches, memoized.
//
// A bot fetches thread replies with `conversations.replies(channel, ts)`, a Slack Web API
// method in rate-limit Tier 3: about 50 calls a minute, with short bursts tolerated and a
// `ratelimited` error beyond them. A burst of 1000 concurrent fetches over 20 threads runs
// twice against a simulated API (latency 20-80 ms, a token bucket, a call counter): once
// calling the API directly, once through `asiocache::cached` with a 60 s TTL and a key built
// from the channel and the ts only. Each fetch makes a new client object, which the key
// leaves out. Concurrent fetches of one thread share one API call (single-flight). A refused
// call carries Slack's Retry-After; the clients of the workspace then hold back until it has
// passed, failing at once without calling the API.
//
// Then fail-safe: a `cached` with a 1 s TTL and `fail_safe_max`, warmed, is fired at past its
// TTL while the API refuses (a backfill has emptied the bucket): once as the calls get 429,
// once while the clients hold back. Every fetch is served the last good replies. The same
// burst through a `cached` without fail-safe fails, for contrast.
//
//   slack_replies_demo [--url memory:// | redis://127.0.0.1:6379 | memcached://127.0.0.1:11211]
//
// Exits 0 when the cached run made exactly one API call per thread, a second cached burst
// made none, no cached fetch failed, and past the TTL no fail-safe fetch failed while some
// were served stale (and the contrast did fail).
//
//   slack_replies_demo --processes N --url redis://127.0.0.1:6379 | memcached://127.0.0.1:11211
//                      | redis-cluster://127.0.0.1:7000,127.0.0.1:7001
//
// Shares the burst out among N processes (2 to 16) on one cache server, with the lease on: one
// process computes each thread while the others wait for its result. Prints the API calls of
// each process, then the same with N processes and no lease, for contrast. Exits 0 when, with
// the lease, the processes made exactly one API call per thread between them and no fetch
// failed; 1 otherwise (also when a process fails or hangs past 30 s); 2 on a usage error, such
// as no URL or memory://, which processes cannot share.

#include "asiocache/asiocache.hpp"
#include "asiocache/backends/builtin.hpp"
#include "asiocache/backends/memory.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using asiocache::task;

// ---------------------------------------------------------------------------------------------
// The simulated Slack API.

struct message {
    std::string user;
    std::string text;
    std::string ts;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(message, user, text, ts)

/// What `conversations.replies` returns: the thread's messages.
struct replies {
    std::string channel;
    std::string thread_ts;
    std::vector<message> messages;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(replies, channel, thread_ts, messages)

/// Slack's `{"ok": false, "error": "ratelimited"}`, with HTTP 429 and a `Retry-After` header:
/// the whole seconds to wait before calling the method again.
struct ratelimited : std::runtime_error {
    explicit ratelimited(std::chrono::seconds wait)
        : std::runtime_error(fmt::format("ratelimited (Retry-After: {})", wait.count())),
          retry_after(wait) {}
    std::chrono::seconds retry_after;
};

/// One workspace's view of the Web API: latency, a Tier 3 token bucket, and counters.
class slack_api {
public:
    /// Tier 3: about 50 calls a minute, refilled continuously. Slack tolerates short bursts;
    /// this bucket holds 25 calls, so a burst of 20 passes and one of 100 does not.
    static constexpr double per_minute = 50;
    static constexpr double burst = 25;

    auto conversations_replies(std::string channel, std::string ts) -> task<replies> {
        ++calls_;
        auto ex = co_await asio::this_coro::executor;
        if (!take_token()) {
            // Refused at once, as an HTTP 429 is, saying when the bucket has a token again.
            auto wait = retry_after();
            asio::steady_timer t(ex, 2ms);
            co_await t.async_wait(asio::use_awaitable);
            ++ratelimited_;
            throw ratelimited(wait);
        }
        asio::steady_timer t(ex, std::chrono::milliseconds(latency_(rng_)));
        co_await t.async_wait(asio::use_awaitable);
        replies r{channel, ts, {}};
        for (int i = 0; i < 3; ++i) {
            r.messages.push_back({"U0" + std::to_string(i), fmt::format("reply {} in {}", i, ts),
                                  ts + "." + std::to_string(i)});
        }
        co_return r;
    }

    [[nodiscard]] auto calls() const -> int { return calls_; }
    [[nodiscard]] auto ratelimited_calls() const -> int { return ratelimited_; }

    /// Another job of the same app, a backfill of old threads, has just used up this method's
    /// budget in the workspace: the bucket is empty.
    void spend_all() {
        refill();
        tokens_ = 0;
    }

private:
    void refill() {
        auto now = std::chrono::steady_clock::now();
        std::chrono::duration<double, std::ratio<60>> elapsed = now - last_;
        last_ = now;
        tokens_ = std::min(burst, tokens_ + elapsed.count() * per_minute);
    }

    auto take_token() -> bool {
        refill();
        if (tokens_ < 1) {
            return false;
        }
        tokens_ -= 1;
        return true;
    }

    /// Whole seconds until the bucket holds a token again, at least 1 (the header's unit).
    [[nodiscard]] auto retry_after() const -> std::chrono::seconds {
        double seconds = (1 - tokens_) * 60 / per_minute;
        return std::chrono::seconds(std::max(1L, static_cast<long>(std::ceil(seconds))));
    }

    double tokens_ = burst;
    std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
    int calls_ = 0;
    int ratelimited_ = 0;
    std::mt19937 rng_{42};
    std::uniform_int_distribution<int> latency_{20, 80};
};

/// The bot's side of the rate limit, shared by every client of one workspace. Slack asks apps
/// to wait out a 429's Retry-After before calling the method again: after one, the gate refuses
/// calls itself, without reaching the API, until then.
class retry_after_gate {
public:
    /// Throws `ratelimited`, with the seconds still to wait, while a Retry-After runs.
    void check() {
        auto now = std::chrono::steady_clock::now();
        if (now < until_) {
            ++held_back_;
            throw ratelimited(std::chrono::ceil<std::chrono::seconds>(until_ - now));
        }
    }

    /// A 429 came back: no calls until its Retry-After has passed.
    void note(ratelimited const& e) {
        until_ = std::max(until_, std::chrono::steady_clock::now() + e.retry_after);
        last_retry_after_ = e.retry_after;
    }

    /// Calls refused here, which never reached the API.
    [[nodiscard]] auto held_back() const -> int { return held_back_; }
    /// The Retry-After of the last 429 (0 if there was none).
    [[nodiscard]] auto last_retry_after() const -> std::chrono::seconds {
        return last_retry_after_;
    }

private:
    std::chrono::steady_clock::time_point until_{};
    std::chrono::seconds last_retry_after_{0};
    int held_back_ = 0;
};

/// One workspace, as the bot sees it: the API, and the bot's Retry-After gate for it.
struct workspace {
    std::shared_ptr<slack_api> api = std::make_shared<slack_api>();
    std::shared_ptr<retry_after_gate> gate = std::make_shared<retry_after_gate>();
};

/// A Web API client, made afresh for every fetch (as a bot framework hands one to each event
/// handler), sharing its workspace's API and gate. It has no formatter: it cannot be part of a
/// cache key, and need not be.
struct slack_client {
    std::shared_ptr<slack_api> api;
    std::shared_ptr<retry_after_gate> gate;
    std::string token;
};

/// The function the bot memoizes. It honours Retry-After: while one runs, it fails at once.
auto fetch_replies(std::shared_ptr<slack_client> client, std::string channel, std::string ts)
    -> task<replies> {
    client->gate->check();
    try {
        co_return co_await client->api->conversations_replies(std::move(channel), std::move(ts));
    } catch (ratelimited const& e) {
        client->gate->note(e);
        throw;
    }
}

// ---------------------------------------------------------------------------------------------
// The burst.

struct run_result {
    int fetches = 0;
    int ok = 0;
    int failed = 0;
    int api_calls = 0;        ///< Calls that reached the API,
    int api_ratelimited = 0;  ///< and of those, the ones refused with a 429.
    int held_back = 0;        ///< Calls the Retry-After gate refused without calling the API.
    std::chrono::milliseconds wall{};
};

constexpr int fetches = 1000;
constexpr int threads = 20;

auto channel_of(int i) -> std::string { return fmt::format("C{:03}", i % threads % 4); }
auto ts_of(int i) -> std::string { return fmt::format("1700000000.{:06}", i % threads); }

/// Runs `io` on this thread until `done()`. Not until it runs out of work: a network
/// backend's connection keeps a read pending. Restarts it first, because running out of work
/// stops a context.
template <class Done>
void run_until(asio::io_context& io, Done done) {
    io.restart();
    while (!done()) {
        io.run_one();
    }
}

/// Starts fetches `begin` to `end` of the burst (all `fetches` by default) concurrently through
/// `fetch` on workspace `ws` and runs them all to completion. The API counts are this burst's.
template <class Fetch>
auto burst(asio::io_context& io, workspace const& ws, Fetch fetch, int begin = 0,
           int end = fetches) -> run_result {
    run_result r;
    r.fetches = end - begin;
    auto const calls_before = ws.api->calls();
    auto const ratelimited_before = ws.api->ratelimited_calls();
    auto const held_back_before = ws.gate->held_back();
    auto start = std::chrono::steady_clock::now();
    for (int i = begin; i < end; ++i) {
        auto client = std::make_shared<slack_client>(
            slack_client{ws.api, ws.gate, fmt::format("xoxb-{}", i)});
        asio::co_spawn(io, fetch(std::move(client), channel_of(i), ts_of(i)),
                       [&r](std::exception_ptr e, replies const&) { ++(e ? r.failed : r.ok); });
    }
    run_until(io, [&r] { return r.ok + r.failed >= r.fetches; });
    r.wall = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    r.api_calls = ws.api->calls() - calls_before;
    r.api_ratelimited = ws.api->ratelimited_calls() - ratelimited_before;
    r.held_back = ws.gate->held_back() - held_back_before;
    return r;
}

/// The cache the cached run uses, from `--url` (default `memory://`), through the registry:
/// memory, Redis and memcached URLs all work. Each run takes a namespace of its own, so that a
/// shared server's keys from earlier runs cannot turn this run's first calls into hits.
auto make_demo_cache(std::string_view url, asio::any_io_executor ex) -> asiocache::cache {
    auto cfg = asiocache::parse_url(url.empty() ? std::string_view("memory://") : url).value();
    auto stamp = std::chrono::system_clock::now().time_since_epoch().count();
    cfg.options.ns = fmt::format("{}slackbot-{:x}", cfg.options.ns, stamp);
    asiocache::registry caches{std::move(ex)};
    asiocache::backends::register_builtin(caches);
    return caches.make_cache(std::move(cfg));
}

void print_summary(run_result const& plain, run_result const& memo, std::string_view url,
                   asiocache::plugins::hit_miss_stats const& lookups) {
    fmt::print("\n{:<28}{:>16}{:>18}\n", "", "without cache", "with cached()");
    auto row = [](std::string_view name, auto a, auto b) {
        fmt::print("{:<28}{:>16}{:>18}\n", name, a, b);
    };
    row("fetches", plain.fetches, memo.fetches);
    row("  succeeded", plain.ok, memo.ok);
    row("  failed (ratelimited)", plain.failed, memo.failed);
    row("API calls made", plain.api_calls, memo.api_calls);
    row("  refused with 429", plain.api_ratelimited, memo.api_ratelimited);
    row("held back by Retry-After", plain.held_back, memo.held_back);
    row("wall time (ms)", plain.wall.count(), memo.wall.count());
    fmt::print("\ncache: {}, {} lookups, {} hits ({:.1f}%)\n", url.empty() ? "memory://" : url,
               lookups.lookups, lookups.hits, 100 * lookups.hit_ratio());
}

/// Runs `io` for `d`, so that a network backend's connection is served meanwhile.
void pause(asio::io_context& io, std::chrono::milliseconds d) {
    asio::steady_timer timer(io, d);
    bool done = false;
    timer.async_wait([&done](boost::system::error_code) { done = true; });
    run_until(io, [&done] { return done; });
}

// ---------------------------------------------------------------------------------------------
// Fail-safe: past a short TTL, while the API refuses, the last good replies are served.

constexpr auto short_ttl = 1s;
constexpr auto fail_safe_max = 10min;

/// Removes the burst's threads from `memo`'s cache.
template <class Memo>
auto forget_threads(Memo memo) -> task<void> {
    for (int i = 0; i < threads; ++i) {
        co_await memo.invalidate(nullptr, channel_of(i), ts_of(i));
    }
}

/// Warms a `cached` with a 1 s TTL and `fail_safe_max` on `cache`, lets the TTL pass while a
/// backfill empties the bucket, and fires the burst twice: once as the API answers 429, once
/// while the client holds back for its Retry-After. Then the same burst through a `cached`
/// without fail-safe, for contrast. True when every fail-safe fetch got replies, some of them
/// stale, and the contrast failed.
auto fail_safe_scene(asio::io_context& io, asiocache::cache const& cache) -> bool {
    workspace ws;
    auto safe = asiocache::cached(cache, fetch_replies,
                                  {.key_prefix = "replies-fail-safe",
                                   .key_builder = asiocache::key_from_args<1, 2>(),
                                   .ttl = short_ttl,
                                   .fail_safe_max = fail_safe_max});
    // Without fail-safe a result leaves the cache with its TTL: past it, this one holds what a
    // warmed one would hold by then, nothing.
    auto plain = asiocache::cached(cache, fetch_replies,
                                   {.key_prefix = "replies-no-fail-safe",
                                    .key_builder = asiocache::key_from_args<1, 2>(),
                                    .ttl = short_ttl});

    auto warm = burst(io, ws, safe, 0, threads);
    pause(io, short_ttl + 100ms);
    ws.api->spend_all();

    auto stale_before = safe.stats().fail_safe;
    auto refused = burst(io, ws, safe);
    auto stale_refused = safe.stats().fail_safe - stale_before;
    auto held = burst(io, ws, safe);
    auto stale_held = safe.stats().fail_safe - stale_before - stale_refused;
    auto without = burst(io, ws, plain);
    // A server would keep the fail-safe copies for fail_safe_max: they go now.
    bool forgotten = false;
    asio::co_spawn(io, forget_threads(safe), [&](std::exception_ptr) { forgotten = true; });
    run_until(io, [&forgotten] { return forgotten; });

    fmt::print("\nFail-safe: cached() with a {} s TTL and fail_safe_max = {} min, warmed with {} "
               "API calls ({} failed).\n{} ms later the TTL has passed, and a backfill of old "
               "threads has used up the workspace's budget.\n",
               short_ttl.count(), fail_safe_max.count(), warm.api_calls, warm.failed,
               (short_ttl + 100ms).count());
    fmt::print("\n{:<28}{:>16}{:>16}{:>20}\n", "", "with fail-safe", "again at once",
               "without fail-safe");
    auto row = [](std::string_view name, auto a, auto b, auto c) {
        fmt::print("{:<28}{:>16}{:>16}{:>20}\n", name, a, b, c);
    };
    row("fetches", refused.fetches, held.fetches, without.fetches);
    row("  served stale (fail-safe)", stale_refused, stale_held, 0);
    row("  failed (ratelimited)", refused.failed, held.failed, without.failed);
    row("API calls made", refused.api_calls, held.api_calls, without.api_calls);
    row("  refused with 429", refused.api_ratelimited, held.api_ratelimited,
        without.api_ratelimited);
    row("held back by Retry-After", refused.held_back, held.held_back, without.held_back);
    row("wall time (ms)", refused.wall.count(), held.wall.count(), without.wall.count());
    fmt::print("\nRetry-After: {} s on the 429s; until it passed, the workspace's clients held "
               "back {} calls without reaching the API.\n",
               ws.gate->last_retry_after().count(), ws.gate->held_back());

    auto stale = stale_refused + stale_held;
    auto failed = refused.failed + held.failed;
    bool ok = failed == 0 && stale_refused > 0 && stale_held > 0 && without.failed > 0;
    fmt::print("{}: with fail_safe_max, {} of {} fetches past the TTL were served stale and {} "
               "failed; without it, {} of {} failed.\n",
               ok ? "OK" : "UNEXPECTED", stale, refused.fetches + held.fetches, failed,
               without.failed, without.fetches);
    return ok;
}


// ---------------------------------------------------------------------------------------------
// --processes N: the burst shared out among N processes, as N replicas of the bot would share
// it, on one cache server. Each process is forked before anything asynchronous exists, then
// builds its own io_context, connection and simulated API from the URL. The cache server is
// all they share.

constexpr int max_processes = 16;
/// A process still running after this is killed, and the demo fails.
constexpr auto process_limit = 30s;

/// The lease the processes take on a key before calling the API: the other processes wait for
/// its holder's result instead of calling too. The TTL only matters if a holder dies (a call
/// takes 80 ms at most); waiters give up after `wait`, well within `process_limit`.
constexpr asiocache::lease_options demo_lease{.ttl = 5s, .wait = 15s};

auto make_memo(asiocache::cache c, std::optional<asiocache::lease_options> lease) {
    return asiocache::cached(std::move(c), fetch_replies,
                             {.key_prefix = "replies",
                              .key_builder = asiocache::key_from_args<1, 2>(),
                              .ttl = 60s,
                              .lease = lease});
}

/// What one process reports to the parent, one line on its pipe.
struct process_report {
    int fetches = 0;
    int failed = 0;
    int api_calls = 0;
    int lease_waits = 0;   ///< Threads this process left to another's lease, and waited for.
    int cache_errors = 0;  ///< Cache operations that failed (the fetch went on without the cache).
    long wall_ms = 0;
};

/// One process of a round, as the parent saw it end.
struct process_outcome {
    std::optional<process_report> report;
    std::string trouble;  ///< Why it failed (a hang, a crash, an error); empty if it did not.
};

struct round_result {
    std::vector<process_outcome> processes;

    [[nodiscard]] auto sum(int process_report::*field) const -> long {
        long n = 0;
        for (auto const& p : processes) {
            n += p.report ? (*p.report).*field : 0;
        }
        return n;
    }
    [[nodiscard]] auto wall_ms() const -> long {
        long most = 0;
        for (auto const& p : processes) {
            most = std::max(most, p.report ? p.report->wall_ms : 0L);
        }
        return most;
    }
    /// Every process ran to the end and reported.
    [[nodiscard]] auto complete() const -> bool {
        return std::all_of(processes.begin(), processes.end(),
                           [](auto const& p) { return p.report && p.trouble.empty(); });
    }
};

void write_all(int fd, std::string_view text) {
    while (!text.empty()) {
        auto n = ::write(fd, text.data(), text.size());
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return;
        }
        text.remove_prefix(static_cast<std::size_t>(n));
    }
}

auto read_all(int fd) -> std::string {
    std::string text;
    char buf[256];
    for (;;) {
        auto n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return text;
        }
        text.append(buf, static_cast<std::size_t>(n));
    }
}

/// A child's whole life: its cache from `cfg`, then, once the parent closes the start pipe
/// (EOF on `start_fd`), fetches `begin` to `end` of the burst; the report goes to `report_fd`.
auto run_share(asiocache::cache_config cfg, bool lease, int begin, int end, int start_fd,
               int report_fd) -> int {
    asio::io_context io;
    asiocache::registry caches{io.get_executor()};
    asiocache::backends::register_builtin(caches);
    auto cache = caches.make_cache(std::move(cfg));
    auto memo = make_memo(cache, lease ? std::optional(demo_lease) : std::nullopt);
    // Connected before the start, so that the processes set off together.
    bool connected = false;
    asio::co_spawn(io, cache.exists("slack_replies_demo-warm-up"),
                   [&](std::exception_ptr, bool) { connected = true; });
    run_until(io, [&connected] { return connected; });

    char byte = 0;
    while (::read(start_fd, &byte, 1) < 0 && errno == EINTR) {
    }
    ::close(start_fd);

    auto r = burst(io, workspace{}, memo, begin, end);
    bool closed = false;
    asio::co_spawn(io, cache.close(), [&](std::exception_ptr) { closed = true; });
    run_until(io, [&closed] { return closed; });

    auto stats = memo.stats();
    write_all(report_fd, fmt::format("{} {} {} {} {} {}\n", r.fetches, r.failed, r.api_calls,
                                     stats.lease_waits, stats.cache_errors, r.wall.count()));
    ::close(report_fd);
    return 0;
}

auto parse_report(std::string const& line) -> std::optional<process_report> {
    process_report r;
    if (std::sscanf(line.c_str(), "%d %d %d %d %d %ld", &r.fetches, &r.failed, &r.api_calls,
                    &r.lease_waits, &r.cache_errors, &r.wall_ms) != 6) {
        return std::nullopt;
    }
    return r;
}

auto describe_status(int status) -> std::string {
    if (WIFEXITED(status)) {
        return fmt::format("exited with status {}", WEXITSTATUS(status));
    }
    if (WIFSIGNALED(status)) {
        return fmt::format("killed by signal {}", WTERMSIG(status));
    }
    return "ended oddly";
}

/// Forks `n` processes on `cfg`'s cache, starts their shares of the burst at once, and
/// collects their reports. Each is killed if it runs past `process_limit`; all are reaped.
auto run_round(asiocache::cache_config const& cfg, int n, bool lease) -> round_result {
    round_result result;
    result.processes.resize(static_cast<std::size_t>(n));
    int start[2];
    if (::pipe(start) != 0) {
        throw std::system_error(errno, std::generic_category(), "pipe");
    }
    std::vector<pid_t> pids;
    std::vector<int> report_fds;
    for (int k = 0; k < n; ++k) {
        int report[2];
        if (::pipe(report) != 0) {
            result.processes[static_cast<std::size_t>(k)].trouble =
                fmt::format("not started: pipe: {}", std::strerror(errno));
            break;
        }
        // Nothing buffered may be written twice, by the parent and by a child.
        std::fflush(stdout);
        std::fflush(stderr);
        pid_t pid = ::fork();
        if (pid == 0) {
            ::close(start[1]);
            ::close(report[0]);
            for (int fd : report_fds) {
                ::close(fd);
            }
            // Should the parent die, its children must not outlive it for long.
            ::alarm(static_cast<unsigned>(process_limit.count()) + 10);
            int code = 3;
            try {
                code = run_share(cfg, lease, k * fetches / n, (k + 1) * fetches / n, start[0],
                                 report[1]);
            } catch (std::exception const& e) {
                fmt::print(stderr, "slack_replies_demo: process {}: {}\n", k + 1, e.what());
            }
            std::_Exit(code);  // no atexit handlers or buffers inherited from the parent
        }
        ::close(report[1]);
        if (pid < 0) {
            result.processes[static_cast<std::size_t>(k)].trouble =
                fmt::format("not started: fork: {}", std::strerror(errno));
            ::close(report[0]);
            break;
        }
        pids.push_back(pid);
        report_fds.push_back(report[0]);
    }
    // All forked: closing the last write end of the start pipe starts them together.
    ::close(start[1]);
    ::close(start[0]);

    auto const deadline = std::chrono::steady_clock::now() + process_limit;
    std::vector<bool> reaped(pids.size(), false);
    std::size_t left = pids.size();
    while (left > 0) {
        for (std::size_t k = 0; k < pids.size(); ++k) {
            int status = 0;
            if (reaped[k] || ::waitpid(pids[k], &status, WNOHANG) != pids[k]) {
                continue;
            }
            reaped[k] = true;
            --left;
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                result.processes[k].trouble = describe_status(status);
            }
        }
        if (left == 0) {
            break;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            for (std::size_t k = 0; k < pids.size(); ++k) {
                if (!reaped[k]) {
                    ::kill(pids[k], SIGKILL);
                    int status = 0;
                    ::waitpid(pids[k], &status, 0);
                    reaped[k] = true;
                    result.processes[k].trouble = fmt::format(
                        "still running after {} s: killed", process_limit.count());
                }
            }
            break;
        }
        std::this_thread::sleep_for(5ms);
    }
    // Every child has exited, so every write end is closed: the reads end.
    for (std::size_t k = 0; k < report_fds.size(); ++k) {
        auto text = read_all(report_fds[k]);
        ::close(report_fds[k]);
        result.processes[k].report = parse_report(text);
        if (!result.processes[k].report && result.processes[k].trouble.empty()) {
            result.processes[k].trouble = "exited without a report";
        }
    }
    return result;
}

/// The parent's clean-up, once every child is gone: the rounds' keys (a lease is released by
/// its holder, or expires).
void remove_demo_keys(asiocache::cache_config cfg, std::vector<std::string> const& namespaces) {
    asio::io_context io;
    asiocache::registry caches{io.get_executor()};
    asiocache::backends::register_builtin(caches);
    for (auto const& ns : namespaces) {
        cfg.options.ns = ns;
        auto cache = caches.make_cache(cfg);
        auto memo = make_memo(cache, std::nullopt);
        auto remove = [](asiocache::cache c, decltype(memo) m) -> task<void> {
            for (int i = 0; i < threads; ++i) {
                co_await m.invalidate(nullptr, channel_of(i), ts_of(i));
            }
            co_await c.close();
        };
        bool done = false;
        std::exception_ptr error;
        asio::co_spawn(io, remove(cache, memo), [&](std::exception_ptr e) {
            error = e;
            done = true;
        });
        run_until(io, [&done] { return done; });
        if (error) {
            std::rethrow_exception(error);
        }
    }
}

/// `--processes N`: a round with the lease, the one checked, then one without it for contrast,
/// each on a fresh namespace.
auto run_processes(asiocache::cache_config cfg, int n) -> int {
    fmt::print("{} concurrent conversations.replies fetches over {} threads, shared out among {} "
               "processes on {}.\nEach process has its own connection, single-flight and "
               "simulated API (20-80 ms a call); the cache server is all they share.\n",
               fetches, threads, n, cfg.redacted());
    auto stamp = std::chrono::system_clock::now().time_since_epoch().count();
    auto base = fmt::format("{}slackbot-{}-{:x}", cfg.options.ns, ::getpid(), stamp);
    std::vector<std::string> namespaces{base + "-lease", base + "-nolease"};

    cfg.options.ns = namespaces[0];
    auto leased = run_round(cfg, n, true);
    cfg.options.ns = namespaces[1];
    auto plain = run_round(cfg, n, false);
    try {
        remove_demo_keys(cfg, namespaces);
    } catch (std::exception const& e) {
        fmt::print(stderr, "slack_replies_demo: removing the demo's keys: {}\n", e.what());
    }

    fmt::print("\n{:<28}{:>16}{:>18}\n", "API calls", "with lease", "without lease");
    auto calls = [](process_outcome const& p) {
        return p.report ? fmt::format("{}", p.report->api_calls) : std::string("-");
    };
    for (std::size_t k = 0; k < static_cast<std::size_t>(n); ++k) {
        fmt::print("{:<28}{:>16}{:>18}\n", fmt::format("  process {} ({} fetches)", k + 1,
                                                       (k + 1) * fetches / n - k * fetches / n),
                   calls(leased.processes[k]), calls(plain.processes[k]));
    }
    auto row = [](std::string_view name, auto a, auto b) {
        fmt::print("{:<28}{:>16}{:>18}\n", name, a, b);
    };
    row("total", leased.sum(&process_report::api_calls), plain.sum(&process_report::api_calls));
    row("failed fetches", leased.sum(&process_report::failed),
        plain.sum(&process_report::failed));
    row("lease waits", leased.sum(&process_report::lease_waits), "-");
    row("cache errors", leased.sum(&process_report::cache_errors),
        plain.sum(&process_report::cache_errors));
    row("wall time (ms)", leased.wall_ms(), plain.wall_ms());
    fmt::print("\nSlack counts the rate limit per app and workspace, whatever the process: "
               "with the lease the processes' calls add up to one per thread.\n");

    bool ok = true;
    for (auto const* round : {&leased, &plain}) {
        for (std::size_t k = 0; k < round->processes.size(); ++k) {
            if (!round->processes[k].trouble.empty()) {
                fmt::print(stderr, "slack_replies_demo: {} round, process {}: {}\n",
                           round == &leased ? "lease" : "no-lease", k + 1,
                           round->processes[k].trouble);
                ok = false;
            }
        }
    }
    if (auto errors = leased.sum(&process_report::cache_errors); errors > 0) {
        fmt::print("{} cache operations failed with the lease: those fetches went on without the "
                   "cache (fail-open), and without sharing.\n",
                   errors);
    }
    auto total = leased.sum(&process_report::api_calls);
    auto failed = leased.sum(&process_report::failed);
    ok = ok && leased.complete() && plain.complete() && total == threads && failed == 0;
    fmt::print("\n{}: with the lease, {} processes made {} API calls for {} threads and had {} "
               "failures (without it: {}).\n",
               ok ? "OK" : "UNEXPECTED", n, total, threads, failed,
               plain.sum(&process_report::api_calls));
    return ok ? 0 : 1;
}

}  // namespace

auto main(int argc, char** argv) -> int {
    constexpr std::string_view usage =
        "usage: {0} [--url] [memory:// | redis://HOST:PORT | memcached://HOST:PORT]\n"
        "       {0} --processes N [--url] (redis://HOST:PORT | memcached://HOST:PORT |\n"
        "                                   redis-cluster://HOST:PORT,...)\n";
    std::string url;
    std::optional<std::string_view> processes_arg;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--url" && i + 1 < argc) {
            url = argv[++i];
        } else if (arg.starts_with("--url=")) {
            url = arg.substr(6);
        } else if (arg == "--processes" && i + 1 < argc) {
            processes_arg = argv[++i];
        } else if (arg.starts_with("--processes=")) {
            processes_arg = arg.substr(12);
        } else if (!arg.starts_with("-") && url.empty()) {
            url = arg;
        } else {
            fmt::print(stderr, usage, argv[0]);
            return 2;
        }
    }
    if (processes_arg) {
        // Checked before anything starts: a usage error forks, connects and prints nothing else.
        int n = 0;
        auto [end, ec] = std::from_chars(processes_arg->data(),
                                         processes_arg->data() + processes_arg->size(), n);
        if (ec != std::errc() || end != processes_arg->data() + processes_arg->size() || n < 2 ||
            n > max_processes) {
            fmt::print(stderr,
                       "slack_replies_demo: --processes takes a number from 2 to {}, not '{}'\n",
                       max_processes, *processes_arg);
            return 2;
        }
        auto cfg = asiocache::parse_url(url.empty() ? std::string_view("memory://") : url);
        if (!cfg) {
            fmt::print(stderr, "slack_replies_demo: {}\n", cfg.error().message);
            return 2;
        }
        auto const& scheme = cfg->backend.scheme;
        if (scheme != "redis" && scheme != "redis+unix" && scheme != "redis-cluster" &&
            scheme != "memcached") {
            std::string why = fmt::format("{}:// is not a cache server", scheme);
            if (url.empty()) {
                why = "without a URL the demo uses memory://, which is inside each process, so "
                      "they would share nothing";
            } else if (scheme == "memory") {
                why = "memory:// is inside each process, so they would share nothing";
            }
            fmt::print(stderr,
                       "slack_replies_demo: --processes needs the URL of a cache server the "
                       "processes can share, such as redis://127.0.0.1:6379 or "
                       "memcached://127.0.0.1:11211; {}. Nothing was started.\n",
                       why);
            fmt::print(stderr, usage, argv[0]);
            return 2;
        }
        try {
            return run_processes(std::move(*cfg), n);
        } catch (std::exception const& e) {
            fmt::print(stderr, "slack_replies_demo: {}\n", e.what());
            return 2;
        }
    }
    try {
        fmt::print("{} concurrent conversations.replies fetches over {} threads; the API answers "
                   "in 20-80 ms and allows {} calls a minute, in bursts of up to {}.\n",
                   fetches, threads, slack_api::per_minute, slack_api::burst);
        asio::io_context io;

        // Run 1: straight to the API.
        auto plain = burst(io, workspace{}, fetch_replies);

        // Run 2: the same burst through cached(), on a fresh rate-limit bucket.
        auto cache = make_demo_cache(url, io.get_executor());
        auto& lookups = cache.add_plugin<asiocache::plugins::hit_miss>();
        auto memo = asiocache::cached(cache, fetch_replies,
                                      {.key_prefix = "replies",
                                       .key_builder = asiocache::key_from_args<1, 2>(),
                                       .ttl = 60s});
        auto cached_run = burst(io, workspace{}, memo);

        auto first = memo.stats();
        print_summary(plain, cached_run, url, lookups.stats());
        fmt::print("cached(): {} calls of fetch_replies; {} fetches shared a call in flight\n",
                   first.upstream_calls, first.shared);

        // Run 3: the same burst again, within the TTL: every fetch is a cache hit.
        auto again = burst(io, workspace{}, memo);
        fmt::print("the same burst again within the 60 s TTL: {} API calls, {} cache hits, "
                   "{} failures, {} ms\n",
                   again.api_calls, memo.stats().hits - first.hits, again.failed,
                   again.wall.count());
        bool ok = cached_run.api_calls == threads && cached_run.failed == 0 &&
                  again.api_calls == 0 && again.failed == 0;
        fmt::print("\n{}: with cached(), {} API calls for {} threads and {} failures.\n",
                   ok ? "OK" : "UNEXPECTED", cached_run.api_calls, threads, cached_run.failed);

        // Run 4: past a short TTL while the API refuses, with and without fail-safe.
        bool safe_ok = fail_safe_scene(io, cache);

        // Network backends hold connections: close them before the io_context goes.
        bool closed = false;
        asio::co_spawn(io, cache.close(), [&](std::exception_ptr) { closed = true; });
        run_until(io, [&closed] { return closed; });
        return ok && safe_ok ? 0 : 1;
    } catch (std::exception const& e) {
        fmt::print(stderr, "slack_replies_demo: {}\n", e.what());
        return 2;
    }
}
