// SPDX-License-Identifier: MIT
// lease_wake_bench: how long after a leased value lands a waiter in another process has it
// (issue 13), with the waiters polling (`lease_options::wakeups = false`, poll 2..50 ms, the
// defaults) and woken (PUBLISH on asiocache:wake:<key>). Two real processes (fork), each with
// its own io_context and Redis backend, on one redis-server:
//
//   holder (parent)                         waiter (child)
//   memo(k): lease taken, fetch starts  --> "round k" on a pipe: memo(k) misses, waits on the lease
//   fetch sleeps 5..150 ms, stamps t0
//   stores, releases, wakes                 has the value: stamps t1  --> t1 on a pipe
//
// The delay is t1 - t0 on CLOCK_MONOTONIC, which both processes share: it includes the holder's
// SET and release (one round trip each) as well as the wake-up or the poll. The fetch times
// are drawn from one seed, so both modes see the same rounds.
//
// `rtt` is the floor: one PING after the same sleeps, from one process.
//
//   lease_wake_bench [--port 6379] [--host 127.0.0.1] [--rounds 200] [--mode both|rtt|poll|wake]
#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "asiocache/asiocache.hpp"
#include "asiocache/backends/redis.hpp"

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using asiocache::task;

struct settings {
    std::string host = "127.0.0.1";
    std::uint16_t port = 6379;
    int rounds = 200;
    std::string mode = "both";
};

auto now_ns() -> std::int64_t {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(steady::now().time_since_epoch())
        .count();
}

auto make_cache(asio::io_context& io, settings const& s, std::string const& ns)
    -> asiocache::cache {
    auto b = asiocache::backends::make_redis_backend(io.get_executor(),
                                                     {.host = s.host, .port = s.port});
    return asiocache::cache{b, {.ns = ns}};
}

auto lease_for(bool wake) -> asiocache::lease_options {
    // The defaults (poll 2..50 ms), with the wake-ups on or off.
    return {.ttl = 10s, .wait = 10s, .wakeups = wake};
}

/// The waiter: for each round number read from `in`, calls memo(round) and writes back when
/// it had the value. Writes one byte first, once it is subscribed (or at once when polling).
auto waiter(asio::io_context& io, settings s, std::string ns, bool wake, int in, int out)
    -> task<void> {
    auto c = make_cache(io, s, ns);
    auto fetch = [](int round) -> task<std::string> {
        co_return fmt::format("computed by the waiter, round {}", round);  // never: the holder is
    };
    auto memo = asiocache::cached(c, fetch, {.key_prefix = "bench", .lease = lease_for(wake)});
    asio::posix::stream_descriptor rd(io, in);
    asio::posix::stream_descriptor wr(io, out);
    if (wake) {
        auto* w = c.backend()->wakeups();
        asio::steady_timer t(io);
        while (!w->ready()) {
            t.expires_after(1ms);
            co_await t.async_wait(asio::use_awaitable);
        }
    }
    char ok = 1;
    co_await asio::async_write(wr, asio::buffer(&ok, 1), asio::use_awaitable);
    int bad = 0;
    for (;;) {
        std::int32_t round = 0;
        co_await asio::async_read(rd, asio::buffer(&round, sizeof round), asio::use_awaitable);
        if (round < 0) {
            break;
        }
        auto v = co_await memo(round);
        std::int64_t t1 = now_ns();
        if (v != fmt::format("holder {}", round)) {
            ++bad;
        }
        co_await asio::async_write(wr, asio::buffer(&t1, sizeof t1), asio::use_awaitable);
    }
    auto st = memo.stats();
    std::fprintf(stderr, "  waiter: %llu lease waits, %llu woken, %llu upstream calls, %d wrong\n",
                 static_cast<unsigned long long>(st.lease_waits),
                 static_cast<unsigned long long>(st.lease_wakeups),
                 static_cast<unsigned long long>(st.upstream_calls), bad);
    co_await c.close();
}

struct round_result {
    std::vector<double> delays_ms;
    bool failed = false;
};

/// The holder: computes each round under the lease, telling the waiter to ask once it holds it.
auto holder(asio::io_context& io, settings s, std::string ns, bool wake, int in, int out,
            round_result& r) -> task<void> {
    auto c = make_cache(io, s, ns);
    asio::posix::stream_descriptor rd(io, in);
    asio::posix::stream_descriptor wr(io, out);
    std::mt19937 rng(13);
    std::uniform_int_distribution<int> sleep_ms(5, 150);
    std::int64_t t0 = 0;
    auto fetch = [&](int round) -> task<std::string> {
        // The lease is ours: the waiter may ask now, and will wait for us.
        std::int32_t msg = round;
        co_await asio::async_write(wr, asio::buffer(&msg, sizeof msg), asio::use_awaitable);
        asio::steady_timer t(co_await asio::this_coro::executor,
                             std::chrono::milliseconds(sleep_ms(rng)));
        co_await t.async_wait(asio::use_awaitable);
        t0 = now_ns();
        co_return fmt::format("holder {}", round);
    };
    auto memo = asiocache::cached(c, fetch, {.key_prefix = "bench", .lease = lease_for(wake)});
    char ok = 0;
    co_await asio::async_read(rd, asio::buffer(&ok, 1), asio::use_awaitable);
    for (int i = 0; i < s.rounds; ++i) {
        co_await memo(i);
        std::int64_t t1 = 0;
        co_await asio::async_read(rd, asio::buffer(&t1, sizeof t1), asio::use_awaitable);
        r.delays_ms.push_back(static_cast<double>(t1 - t0) / 1e6);
    }
    std::int32_t end = -1;
    co_await asio::async_write(wr, asio::buffer(&end, sizeof end), asio::use_awaitable);
    co_await c.close();
}

/// The floor: one round trip (PING) from a process that slept as long as a holder's fetch,
/// the step the wake-up chain repeats about three times (SET, PUBLISH delivered, GET).
auto floor_rtt(asio::io_context& io, settings s, std::vector<double>& out) -> task<void> {
    auto b = asiocache::backends::make_redis_backend(io.get_executor(),
                                                     {.host = s.host, .port = s.port});
    std::vector<std::string> ping{"PING"};
    co_await b->raw(ping, asiocache::deadline::never());
    std::mt19937 rng(13);
    std::uniform_int_distribution<int> sleep_ms(5, 150);
    for (int i = 0; i < s.rounds; ++i) {
        asio::steady_timer t(io, std::chrono::milliseconds(sleep_ms(rng)));
        co_await t.async_wait(asio::use_awaitable);
        auto const t0 = now_ns();
        co_await b->raw(ping, asiocache::deadline::never());
        out.push_back(static_cast<double>(now_ns() - t0) / 1e6);
    }
    co_await b->close();
}

auto percentile(std::vector<double> v, double p) -> double {
    std::sort(v.begin(), v.end());
    auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
    return v[std::min(i, v.size() - 1)];
}

void print_line(char const* what, std::vector<double> const& d) {
    double sum = 0;
    for (double x : d) {
        sum += x;
    }
    std::printf(
        "%-5s rounds %zu  p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  max %.3f ms  mean %.3f ms\n", what,
        d.size(), percentile(d, 0.50), percentile(d, 0.90), percentile(d, 0.99),
        *std::max_element(d.begin(), d.end()), sum / static_cast<double>(d.size()));
}

auto run_floor(settings const& s) -> bool {
    std::vector<double> d;
    asio::io_context io(1);
    bool failed = false;
    asio::co_spawn(io, floor_rtt(io, s, d), [&](std::exception_ptr e) { failed = e != nullptr; });
    io.run();
    if (failed || d.empty()) {
        std::fprintf(stderr, "rtt: failed\n");
        return false;
    }
    print_line("rtt", d);
    return true;
}

auto run_mode(settings const& s, bool wake) -> bool {
    std::array<int, 2> down{};  // holder -> waiter
    std::array<int, 2> up{};    // waiter -> holder
    if (pipe(down.data()) != 0 || pipe(up.data()) != 0) {
        std::perror("pipe");
        return false;
    }
    auto ns = fmt::format("lease-wake-bench-{}-{}-{}", getpid(), wake ? "wake" : "poll", now_ns());
    std::fflush(nullptr);
    pid_t child = fork();
    if (child < 0) {
        std::perror("fork");
        return false;
    }
    if (child == 0) {
        close(down[1]);
        close(up[0]);
        asio::io_context io(1);
        bool failed = false;
        asio::co_spawn(io, waiter(io, s, ns, wake, down[0], up[1]), [&](std::exception_ptr e) {
            if (e) {
                failed = true;
                try {
                    std::rethrow_exception(e);
                } catch (std::exception const& ex) {
                    std::fprintf(stderr, "waiter: %s\n", ex.what());
                }
            }
        });
        io.run();
        std::_Exit(failed ? 1 : 0);
    }
    close(down[0]);
    close(up[1]);
    round_result r;
    {
        asio::io_context io(1);
        asio::co_spawn(io, holder(io, s, ns, wake, up[0], down[1], r), [&](std::exception_ptr e) {
            if (e) {
                r.failed = true;
                try {
                    std::rethrow_exception(e);
                } catch (std::exception const& ex) {
                    std::fprintf(stderr, "holder: %s\n", ex.what());
                }
            }
        });
        io.run();
    }
    int status = 0;
    waitpid(child, &status, 0);
    if (r.failed || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || r.delays_ms.empty()) {
        std::fprintf(stderr, "%s: failed\n", wake ? "wake" : "poll");
        return false;
    }
    print_line(wake ? "wake" : "poll", r.delays_ms);
    if (std::getenv("LEASE_WAKE_SLOWEST") != nullptr) {
        std::vector<std::size_t> idx(r.delays_ms.size());
        for (std::size_t i = 0; i < idx.size(); ++i) {
            idx[i] = i;
        }
        std::sort(idx.begin(), idx.end(),
                  [&](std::size_t x, std::size_t y) { return r.delays_ms[x] > r.delays_ms[y]; });
        for (std::size_t i = 0; i < std::min<std::size_t>(8, idx.size()); ++i) {
            std::printf("  slowest: round %zu  %.3f ms\n", idx[i], r.delays_ms[idx[i]]);
        }
    }
    std::fflush(stdout);
    return true;
}

}  // namespace

auto main(int argc, char** argv) -> int {
    settings s;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string_view a = argv[i];
        if (a == "--port") {
            s.port = static_cast<std::uint16_t>(std::atoi(argv[i + 1]));
        } else if (a == "--host") {
            s.host = argv[i + 1];
        } else if (a == "--rounds") {
            s.rounds = std::max(1, std::atoi(argv[i + 1]));
        } else if (a == "--mode") {  // both: rtt, poll and wake
            s.mode = argv[i + 1];
        } else {
            std::fprintf(stderr, "unknown option %s\n", argv[i]);
            return 2;
        }
    }
    std::printf(
        "lease wake-up delay: value stored by the holder -> waiter in another process "
        "has it; redis %s:%u, %d rounds, fetch 5..150 ms\n",
        s.host.c_str(), s.port, s.rounds);
    bool ok = true;
    if (s.mode == "both" || s.mode == "rtt") {
        ok = run_floor(s) && ok;
    }
    if (s.mode == "both" || s.mode == "poll") {
        ok = run_mode(s, false) && ok;
    }
    if (s.mode == "both" || s.mode == "wake") {
        ok = run_mode(s, true) && ok;
    }
    return ok ? 0 : 1;
}
