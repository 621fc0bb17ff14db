// SPDX-License-Identifier: MIT
#pragma once
// What the Redis Cluster tests share: backend options for a local cluster, keys placed on a
// chosen master, and a checked load of writers and readers.

#include "asiocache/asiocache.hpp"
#include "asiocache/backends/redis_cluster.hpp"
#include "local_cluster.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace asiocache::test {

using namespace std::chrono_literals;

/// Options for a backend on `c`: its first three nodes as seeds, short reconnect and refresh
/// delays.
inline auto options_for(local_cluster const& c) -> backends::redis_cluster_options {
    backends::redis_cluster_options o;
    auto ports = c.ports();
    for (std::size_t i = 0; i < std::min<std::size_t>(3, ports.size()); ++i) {
        o.seeds.push_back({"127.0.0.1", ports[i]});
    }
    o.connection.connect_timeout = 1s;
    o.connection.reconnect_min = 20ms;
    o.connection.reconnect_max = 200ms;
    o.refresh_min = 50ms;
    return o;
}

/// Keys of one slot, through a hash tag chosen so that the slot's owner is `master`.
inline auto keys_on(local_cluster const& c, std::uint16_t master, std::string_view prefix,
             std::size_t n) -> std::pair<int, std::vector<std::string>> {
    for (int tag = 0;; ++tag) {
        auto probe = fmt::format("{{{}t{}}}", prefix, tag);  // the tag holds the prefix too
        int slot = backends::redis_cluster_key_slot(probe);
        if (c.owner_of(slot) != master) {
            continue;
        }
        std::vector<std::string> keys;
        for (std::size_t i = 0; i < n; ++i) {
            keys.push_back(fmt::format("{}:{}", probe, i));
        }
        return {slot, keys};
    }
}

/// Stops a load and joins its thread when the test leaves its scope, even by an exception
/// from the harness, so that a failure is reported instead of ending in std::terminate.
struct load_guard {
    std::function<void()> stop;
    std::thread& runner;
    ~load_guard() {
        stop();
        if (runner.joinable()) {
            runner.join();
        }
    }
};

/// A load of writers and readers on a set of keys, each value "key#seq": a reply for another
/// key, a sequence going back after an acknowledged write, and a lost write are all caught.
struct checked_load {
    std::vector<std::string> keys;
    std::vector<std::int64_t> acked;  // per key, the last sequence acknowledged
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> ok{0};
    std::atomic<std::uint64_t> errors{0};
    std::atomic<std::uint64_t> wrong{0};
    std::atomic<std::uint64_t> slow{0};  // took past its deadline plus 250 ms
    std::mutex m;
    std::string first_problem;
    std::atomic<int> running{0};

    void problem(std::string what) {
        std::lock_guard lock(m);
        if (first_problem.empty()) {
            first_problem = std::move(what);
        }
    }

    auto worker(std::shared_ptr<backend> b, std::size_t from, std::size_t step) -> task<void> {
        std::int64_t seq = 0;
        while (!stop.load()) {
            for (std::size_t i = from; i < keys.size() && !stop.load(); i += step) {
                auto const& k = keys[i];
                ++seq;
                auto started = std::chrono::steady_clock::now();
                auto dl = deadline::after(500ms);
                try {
                    co_await b->set(k, fmt::format("{}#{}", k, seq), expiry::never(), dl);
                    acked[i] = seq;  // one writer per key
                    auto v = co_await b->get(k, deadline::after(500ms));
                    if (!v || *v != fmt::format("{}#{}", k, seq)) {
                        ++wrong;
                        problem(fmt::format("{}: read {} after writing #{}", k,
                                            v ? *v : std::string("nothing"), seq));
                    } else {
                        ++ok;
                    }
                } catch (boost::system::system_error const& e) {
                    ++errors;
                    problem(fmt::format("error: {}", e.what()));
                }
                if (std::chrono::steady_clock::now() - started > 1250ms) {
                    ++slow;
                }
            }
        }
        --running;
    }
};

}  // namespace asiocache::test
