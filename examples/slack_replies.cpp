// SPDX-License-Identifier: MIT
// The asiocache demo: a Slack bot's thread fetches, memoized.
//
// A bot fetches thread replies with `conversations.replies(channel, ts)`, a Slack Web API
// method in rate-limit Tier 3: about 50 calls a minute, with short bursts tolerated and a
// `ratelimited` error beyond them. A burst of 1000 concurrent fetches over 20 threads runs
// twice against a simulated API (latency 20-80 ms, a token bucket, a call counter): once
// calling the API directly, once through `asiocache::cached` with a 60 s TTL and a key built
// from the channel and the ts only. Each fetch makes a new client object, which the key
// leaves out. Concurrent fetches of one thread share one API call (single-flight).
//
//   slack_replies_demo [--url memory:// | redis://127.0.0.1:6379 | memcached://127.0.0.1:11211]
//
// Exits 0 when the cached run made exactly one API call per thread, a second cached burst
// made none, and no cached fetch failed.

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

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
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

/// Slack's `{"ok": false, "error": "ratelimited"}`, with HTTP 429.
struct ratelimited : std::runtime_error {
    ratelimited() : std::runtime_error("ratelimited") {}
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
            // Refused at once, as an HTTP 429 is.
            asio::steady_timer t(ex, 2ms);
            co_await t.async_wait(asio::use_awaitable);
            ++ratelimited_;
            throw ratelimited();
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

private:
    auto take_token() -> bool {
        auto now = std::chrono::steady_clock::now();
        std::chrono::duration<double, std::ratio<60>> elapsed = now - last_;
        last_ = now;
        tokens_ = std::min(burst, tokens_ + elapsed.count() * per_minute);
        if (tokens_ < 1) {
            return false;
        }
        tokens_ -= 1;
        return true;
    }

    double tokens_ = burst;
    std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
    int calls_ = 0;
    int ratelimited_ = 0;
    std::mt19937 rng_{42};
    std::uniform_int_distribution<int> latency_{20, 80};
};

/// A Web API client, made afresh for every fetch (as a bot framework hands one to each event
/// handler). It has no formatter: it cannot be part of a cache key, and need not be.
struct slack_client {
    std::shared_ptr<slack_api> api;
    std::string token;
};

/// The function the bot memoizes.
auto fetch_replies(std::shared_ptr<slack_client> client, std::string channel, std::string ts)
    -> task<replies> {
    co_return co_await client->api->conversations_replies(std::move(channel), std::move(ts));
}

// ---------------------------------------------------------------------------------------------
// The burst.

struct run_result {
    int fetches = 0;
    int ok = 0;
    int failed = 0;
    int api_calls = 0;
    int api_ratelimited = 0;
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

/// Starts `fetches` concurrent fetches through `fetch` and runs them all to completion.
template <class Fetch>
auto burst(asio::io_context& io, std::shared_ptr<slack_api> api, Fetch fetch) -> run_result {
    run_result r;
    r.fetches = fetches;
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < fetches; ++i) {
        auto client = std::make_shared<slack_client>(slack_client{api, fmt::format("xoxb-{}", i)});
        asio::co_spawn(io, fetch(std::move(client), channel_of(i), ts_of(i)),
                       [&r](std::exception_ptr e, replies const&) { ++(e ? r.failed : r.ok); });
    }
    run_until(io, [&r] { return r.ok + r.failed >= fetches; });
    r.wall = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    r.api_calls = api->calls();
    r.api_ratelimited = api->ratelimited_calls();
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
    row("wall time (ms)", plain.wall.count(), memo.wall.count());
    fmt::print("\ncache: {}, {} lookups, {} hits ({:.1f}%)\n", url.empty() ? "memory://" : url,
               lookups.lookups, lookups.hits, 100 * lookups.hit_ratio());
}

}  // namespace

auto main(int argc, char** argv) -> int {
    std::string url;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--url" && i + 1 < argc) {
            url = argv[++i];
        } else if (arg.starts_with("--url=")) {
            url = arg.substr(6);
        } else {
            fmt::print(stderr, "usage: {} [--url memory:// | redis://HOST:PORT | memcached://HOST:PORT]\n",
                       argv[0]);
            return 2;
        }
    }
    try {
        fmt::print("{} concurrent conversations.replies fetches over {} threads; the API answers "
                   "in 20-80 ms and allows {} calls a minute, in bursts of up to {}.\n",
                   fetches, threads, slack_api::per_minute, slack_api::burst);
        asio::io_context io;

        // Run 1: straight to the API.
        auto plain = burst(io, std::make_shared<slack_api>(), fetch_replies);

        // Run 2: the same burst through cached(), on a fresh rate-limit bucket.
        auto cache = make_demo_cache(url, io.get_executor());
        auto& lookups = cache.add_plugin<asiocache::plugins::hit_miss>();
        auto memo = asiocache::cached(cache, fetch_replies,
                                      {.key_prefix = "replies",
                                       .key_builder = asiocache::key_from_args<1, 2>(),
                                       .ttl = 60s});
        auto cached_run = burst(io, std::make_shared<slack_api>(), memo);

        auto first = memo.stats();
        print_summary(plain, cached_run, url, lookups.stats());
        fmt::print("cached(): {} calls of fetch_replies; {} fetches shared a call in flight\n",
                   first.upstream_calls, first.shared);

        // Run 3: the same burst again, within the TTL: every fetch is a cache hit.
        auto again = burst(io, std::make_shared<slack_api>(), memo);
        fmt::print("the same burst again within the 60 s TTL: {} API calls, {} cache hits, "
                   "{} failures, {} ms\n",
                   again.api_calls, memo.stats().hits - first.hits, again.failed,
                   again.wall.count());
        // Network backends hold connections: close them before the io_context goes.
        bool closed = false;
        asio::co_spawn(io, cache.close(), [&](std::exception_ptr) { closed = true; });
        run_until(io, [&closed] { return closed; });

        bool ok = cached_run.api_calls == threads && cached_run.failed == 0 &&
                  again.api_calls == 0 && again.failed == 0;
        fmt::print("\n{}: with cached(), {} API calls for {} threads and {} failures.\n",
                   ok ? "OK" : "UNEXPECTED", cached_run.api_calls, threads, cached_run.failed);
        return ok ? 0 : 1;
    } catch (std::exception const& e) {
        fmt::print(stderr, "slack_replies_demo: {}\n", e.what());
        return 2;
    }
}
