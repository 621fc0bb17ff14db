// SPDX-License-Identifier: MIT
// A bounded soak: a mixed workload through the facade over every backend (memory, and redis and
// memcached each behind a chaos proxy), while the proxies cycle through faults. It checks what a
// long-running service needs: the only errors are the kinds injected, no value read back is
// wrong, and resident memory and open file descriptors stay flat once warmed up.
//
//   asiocache_soak [seconds]     default 30; tools/soak.sh runs it for longer by hand
//
// Exit status 0 when every check holds. The last line reads "soak: N passed, M failed".
#include "asiocache/asiocache.hpp"
#include "asiocache/backends/builtin.hpp"
#include "fault_server.hpp"
#include "local_server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <set>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;
using asiocache::errc;
using asiocache::task;
using asiocache::test::chaos_faults;
using asiocache::test::chaos_proxy;
using asiocache::test::local_server;

auto rss_kib() -> long {
    std::ifstream statm("/proc/self/statm");
    long pages = 0;
    long resident = 0;
    statm >> pages >> resident;
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

auto open_fds() -> long {
    long n = 0;
    for ([[maybe_unused]] auto const& e : std::filesystem::directory_iterator("/proc/self/fd")) {
        ++n;
    }
    return n;
}

struct tally {
    long ok = 0;
    long wrong = 0;  // a value stored under another key: a reply matched to the wrong request
    long stale = 0;  // an acknowledged value older than the last acknowledged write
    long lost = 0;   // a miss after an acknowledged write (nothing here expires or evicts)
    std::map<std::string, long> errors;  // by errc message
    std::map<std::string, std::string> first_error;
};

auto pause(std::chrono::milliseconds d) -> task<void> {
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    co_await t.async_wait(asio::use_awaitable);
}

// Each worker owns its keys and writes values "<key>:<n>:<padding>" with a growing n, so a read
// can tell a value stored under another key (a reply matched to the wrong request), an
// acknowledged value older than the last acknowledged write (two acknowledged writes
// reordered), and a lost write. A write that failed is in doubt: it may land at any time (a
// middlebox can still deliver it), so reading it back is never counted against the backend.
auto worker(asiocache::cache c, int id, std::shared_ptr<bool> stop, std::shared_ptr<tally> t)
    -> task<void> {
    struct history {
        long last = -1;
        std::set<long> all;
    };
    std::map<std::string, history> acked;
    auto check_value = [&](std::string const& key, std::optional<std::string> const& v) {
        auto it = acked.find(key);
        if (!v) {
            t->lost += it != acked.end() ? 1 : 0;
            return;
        }
        if (!v->starts_with(key + ":")) {
            ++t->wrong;
            return;
        }
        auto n = std::strtol(v->c_str() + key.size() + 1, nullptr, 10);
        if (it != acked.end() && n < it->second.last && it->second.all.contains(n)) {
            ++t->stale;
        }
    };
    for (long i = 0; !*stop; ++i) {
        auto key = fmt::format("w{}:{}", id, i % 32);
        try {
            switch (i % 5) {
                case 0:
                case 1: {
                    auto value = fmt::format("{}:{}:{}", key, i,
                                             std::string(static_cast<std::size_t>(i % 7) * 300, 'v'));
                    co_await c.set(key, value, asiocache::expiry(60s));
                    acked[key].last = i;
                    acked[key].all.insert(i);
                    break;
                }
                case 2:
                case 3: {
                    auto v = co_await c.get<std::string>(key);
                    check_value(key, v);
                    break;
                }
                default: {
                    std::vector<std::string> keys{key, fmt::format("w{}:{}", id, (i + 1) % 32)};
                    auto vs = co_await c.multi_get<std::string>(keys);
                    for (std::size_t k = 0; k < vs.size(); ++k) {
                        check_value(keys[k], vs[k]);
                    }
                    break;
                }
            }
            ++t->ok;
        } catch (boost::system::system_error const& e) {
            auto what = e.code().message();
            if (++t->errors[what] == 1) {
                t->first_error[what] = e.what();
            }
        }
        co_await pause(1ms);
    }
}

int checks_passed = 0;
int checks_failed = 0;

void check(bool ok, std::string const& what) {
    fmt::print("soak: {} {}\n", ok ? "ok  " : "FAIL", what);
    (ok ? checks_passed : checks_failed)++;
}

}  // namespace

int main(int argc, char** argv) {
    auto const seconds = argc > 1 ? std::chrono::seconds(std::atoi(argv[1])) : 30s;
    auto redis = local_server::redis();
    auto memcached = local_server::memcached();
    if (!redis || !memcached) {
        fmt::print("soak: redis-server or memcached not found\n");
        return asiocache::test::servers_required() ? 1 : 0;
    }
    chaos_proxy redis_proxy(redis->port());
    chaos_proxy memcached_proxy(memcached->port());

    asio::io_context io;
    asiocache::registry caches(io.get_executor());
    asiocache::backends::register_builtin(caches);
    struct target {
        std::string name;
        std::string url;
    };
    std::vector<target> targets{
        {"memory", "memory://?namespace=soak&max_entries=10000"},
        {"redis",
         fmt::format("redis://127.0.0.1:{}?namespace=soak&timeout=300ms&health_check=200ms&"
                     "reconnect_min=10ms&reconnect_max=200ms&connect_timeout=300ms",
                     redis_proxy.port())},
        {"memcached",
         fmt::format("memcached://127.0.0.1:{}?namespace=soak&timeout=300ms&health_check=200ms&"
                     "reconnect_min=10ms&reconnect_max=200ms&connect_timeout=300ms",
                     memcached_proxy.port())},
    };

    auto stop = std::make_shared<bool>(false);
    std::map<std::string, std::shared_ptr<tally>> tallies;
    int running = 0;
    for (auto const& t : targets) {
        auto c = caches.make_cache(t.url);
        tallies[t.name] = std::make_shared<tally>();
        for (int w = 0; w < 4; ++w) {
            ++running;
            asio::co_spawn(io, worker(c, w, stop, tallies[t.name]),
                           [&](std::exception_ptr e) {
                               if (e) {
                                   try {
                                       std::rethrow_exception(e);
                                   } catch (std::exception const& ex) {
                                       fmt::print("soak: a worker died: {}\n", ex.what());
                                       ++checks_failed;
                                   }
                               }
                               --running;
                           });
        }
    }

    // The fault schedule, one phase a second, the same for both proxies.
    std::vector<std::pair<std::string, chaos_faults>> phases{
        {"healthy", {}},
        {"latency 20ms", {.latency = 20ms}},
        {"reset", {}},
        {"stall", {.stall = true}},
        {"healthy", {}},
        {"black hole", {.black_hole = true}},
        {"bandwidth 64k/s", {.bandwidth = 64 * 1024}},
        {"truncate", {.truncate_after = 3000}},
        {"refuse", {.refuse = true}},
        {"healthy", {}},
    };

    auto const start = std::chrono::steady_clock::now();
    auto const end = start + seconds;
    long rss_warm = 0;
    long fds_warm = 0;
    long rss_max = 0;
    long fds_max = 0;
    std::size_t phase = 0;
    auto next_phase = start;
    while (std::chrono::steady_clock::now() < end) {
        auto now = std::chrono::steady_clock::now();
        if (now >= next_phase) {
            auto const& [name, faults] = phases[phase % phases.size()];
            redis_proxy.set(faults);
            memcached_proxy.set(faults);
            if (name == "reset") {
                redis_proxy.reset_all();
                memcached_proxy.reset_all();
            }
            if (phase == phases.size()) {  // one whole cycle done: warmed up
                rss_warm = rss_kib();
                fds_warm = open_fds();
            }
            if (phase >= phases.size()) {
                rss_max = std::max(rss_max, rss_kib());
                fds_max = std::max(fds_max, open_fds());
            }
            ++phase;
            next_phase += 1s;
        }
        io.run_one_for(10ms);
    }
    redis_proxy.heal();
    memcached_proxy.heal();
    *stop = true;
    auto const drain_end = std::chrono::steady_clock::now() + 10s;
    while (running > 0 && std::chrono::steady_clock::now() < drain_end) {
        io.run_one_for(10ms);
    }
    auto const rss_end = rss_kib();
    auto const fds_end = open_fds();

    check(running == 0, "every worker finished within 10 s of the stop");
    std::vector<std::string> const injected{
        make_error_code(errc::timeout).message(),
        make_error_code(errc::backend_unavailable).message(),
    };
    for (auto const& [name, t] : tallies) {
        long errors = 0;
        std::string kinds;
        bool only_injected = true;
        for (auto const& [what, n] : t->errors) {
            errors += n;
            kinds += fmt::format(" {}={}", what, n);
            only_injected = only_injected &&
                            std::find(injected.begin(), injected.end(), what) != injected.end();
        }
        fmt::print("soak: {:9} ok={} wrong={} stale={} lost={} errors={}{}\n", name, t->ok,
                   t->wrong, t->stale, t->lost, errors, kinds);
        for (auto const& [what, text] : t->first_error) {
            fmt::print("soak: {:9} first '{}': {}\n", name, what, text);
        }
        check(t->ok > 0, name + " made progress");
        check(t->wrong == 0, name + " returned no value of another key");
        check(t->stale == 0 && t->lost == 0, name + " lost no acknowledged write, read none stale");
        check(only_injected, name + " failed only with the injected kinds (timeout, unavailable)");
        if (name == "memory") {
            check(errors == 0, "memory, behind no proxy, never failed");
        }
    }
    if (phase > phases.size()) {
        fmt::print("soak: rss warm={} KiB max={} KiB end={} KiB; fds warm={} max={} end={}\n",
                   rss_warm, rss_max, rss_end, fds_warm, fds_max, fds_end);
        // Flat: bounded by what the workload holds (keys, buffers), not growing with time.
#if defined(__SANITIZE_ADDRESS__)
        // ASan holds freed memory in its quarantine (256 MiB by default), so RSS grows by design.
        constexpr long rss_slack_kib = 128 * 1024;
#else
        constexpr long rss_slack_kib = 16 * 1024;
#endif
        check(rss_end <= rss_warm + rss_slack_kib,
              fmt::format("resident memory stayed within {} MiB of warm", rss_slack_kib / 1024));
        check(fds_end <= fds_warm + 4, "open descriptors returned to the warm count");
    } else {
        fmt::print("soak: shorter than one fault cycle ({} s): no flatness check\n",
                   phases.size());
    }
    fmt::print("soak: {} passed, {} failed\n", checks_passed, checks_failed);
    return checks_failed == 0 ? 0 : 1;
}
