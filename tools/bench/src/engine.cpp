// SPDX-License-Identifier: MIT
// The coroutine load generator, shared by the cache under test and the unordered_map baseline.

#include "engine_detail.hpp"

#include "asiocache/cached.hpp"
#include "asiocache/key.hpp"
#include "asiocache/serializers.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>

#include <charconv>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>

namespace asiocache::bench {
namespace detail {
namespace {

namespace asio = boost::asio;

/// Operations in a row before a worker yields to the others on its thread: a memory backend
/// completes inline, and without this one coroutine would run alone until the end.
constexpr unsigned yield_every = 32;

auto nanos(clock::duration d) -> std::uint64_t {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
}

/// The upstream function behind `op_kind::memo`: returns `*value` and sets `*ran`. The
/// memoized key is built from `key` alone.
auto memo_upstream(std::string key, bool* ran, std::string const* value) -> task<std::string> {
    static_cast<void>(key);
    *ran = true;
    co_return *value;
}

using memo_function = asiocache::detail::memo_types<decltype(&memo_upstream)>::type;

/// The cache under test. Each call returns the facade's own awaitable: the worker awaits the
/// operation exactly as an application does, with no frame of ours in between.
class cache_target {
public:
    static constexpr bool synchronous = false;

    cache_target(asiocache::cache& c, bench_options const& o, workload const& w)
        : c_(&c), custom_(&o.custom), memo_value_(w.value_pool.substr(0, o.value_size_min)) {
        opts_.timeout = o.timeout;
        if (o.mix.memo != 0) {
            memo_.emplace(asiocache::cached(
                c, &memo_upstream,
                {.key_prefix = "bench-memo",
                 .key_builder = asiocache::key_from_args<0>(),
                 .cache_timeout = o.timeout,
                 // A failing cache is an error here, as for the other operations.
                 .fail_open = false}));
        }
    }
    auto get(std::string k) { return c_->get<std::string>(std::move(k), opts_); }
    auto set(std::string k, std::string v) {
        return c_->set<std::string>(std::move(k), std::move(v), std::nullopt, opts_);
    }
    auto multi_get(std::vector<std::string> ks) {
        return c_->multi_get<std::string>(std::move(ks), opts_);
    }
    auto increment(std::string k) { return c_->increment(std::move(k), 1, opts_); }
    auto custom(std::string k) { return (*custom_)(*c_, std::move(k)); }
    /// A memoized call; true when it did not run the upstream.
    auto memo(std::string k) -> task<bool> {
        bool ran = false;
        co_await (*memo_)(std::move(k), &ran, &memo_value_);
        co_return !ran;
    }

private:
    asiocache::cache* c_;
    custom_op const* custom_;
    std::string memo_value_;
    std::optional<memo_function> memo_;
    call_options opts_;
};

/// The memory baseline: what a program without asiocache would write, a map behind a mutex,
/// with the value copied out under the lock.
class map_target {
public:
    static constexpr bool synchronous = true;

    auto get(std::string const& k) -> std::optional<std::string> {
        std::lock_guard lock(mutex_);
        auto it = data_.find(k);
        if (it == data_.end()) {
            return std::nullopt;
        }
        return it->second;
    }
    void set(std::string k, std::string v) {
        std::lock_guard lock(mutex_);
        data_.insert_or_assign(std::move(k), std::move(v));
    }
    auto multi_get(std::vector<std::string> const& ks) -> std::vector<std::optional<std::string>> {
        std::vector<std::optional<std::string>> out;
        out.reserve(ks.size());
        std::lock_guard lock(mutex_);
        for (auto const& k : ks) {
            auto it = data_.find(k);
            out.push_back(it == data_.end() ? std::nullopt : std::optional(it->second));
        }
        return out;
    }
    auto increment(std::string const& k) -> std::int64_t {
        std::lock_guard lock(mutex_);
        auto& v = data_[k];
        std::int64_t n = 0;
        std::from_chars(v.data(), v.data() + v.size(), n);
        ++n;
        char buf[24];
        auto const end = std::to_chars(buf, buf + sizeof buf, n).ptr;
        v.assign(buf, end);
        return n;
    }
    auto custom(std::string const& /*key*/) -> bool { return false; }
    /// What a program without `cached` does for a value it already holds: look it up.
    auto memo(std::string const& k) -> bool { return get(k).has_value(); }

private:
    std::mutex mutex_;
    std::unordered_map<std::string, std::string> data_;
};

template <class Target>
auto worker(Target& t, bench_options const& o, window const& win, recorder& rec, stream s,
            std::uint64_t quota) -> task<void> {
    auto const ex = co_await asio::this_coro::executor;
    auto now = clock::now();
    std::uint64_t done = 0;
    unsigned since_yield = 0;
    while (win.keep_going(now, done, quota)) {
        auto const start = now;
        auto const kind = s.next_op();
        std::uint64_t hits = 0;
        std::uint64_t misses = 0;
        std::exception_ptr error;
        try {
            switch (kind) {
                case op_kind::get: {
                    std::optional<std::string> v;
                    if constexpr (Target::synchronous) {
                        v = t.get(s.next_key());
                    } else {
                        std::string key = s.next_key();
                        v = co_await t.get(std::move(key));
                    }
                    (v ? hits : misses) = 1;
                    break;
                }
                case op_kind::set: {
                    std::string key = s.next_key();
                    std::string value(s.next_value());
                    if constexpr (Target::synchronous) {
                        t.set(std::move(key), std::move(value));
                    } else {
                        co_await t.set(std::move(key), std::move(value));
                    }
                    break;
                }
                case op_kind::multi_get: {
                    std::vector<std::string> keys;
                    keys.reserve(o.multi_get_keys);
                    for (std::size_t i = 0; i < o.multi_get_keys; ++i) {
                        keys.push_back(s.next_key());
                    }
                    std::vector<std::optional<std::string>> vs;
                    if constexpr (Target::synchronous) {
                        vs = t.multi_get(std::move(keys));
                    } else {
                        vs = co_await t.multi_get(std::move(keys));
                    }
                    for (auto const& v : vs) {
                        ++(v ? hits : misses);
                    }
                    break;
                }
                case op_kind::increment: {
                    if constexpr (Target::synchronous) {
                        t.increment(s.next_counter());
                    } else {
                        std::string key = s.next_counter();
                        co_await t.increment(std::move(key));
                    }
                    break;
                }
                case op_kind::memo: {
                    bool hit = false;
                    if constexpr (Target::synchronous) {
                        hit = t.memo(s.next_key());
                    } else {
                        std::string key = s.next_key();
                        hit = co_await t.memo(std::move(key));
                    }
                    (hit ? hits : misses) = 1;
                    break;
                }
                case op_kind::custom: {
                    bool hit = false;
                    if constexpr (Target::synchronous) {
                        hit = t.custom(s.next_key());
                    } else {
                        std::string key = s.next_key();
                        hit = co_await t.custom(std::move(key));
                    }
                    (hit ? hits : misses) = 1;
                    break;
                }
                case op_kind::noop:
                    break;
            }
        } catch (...) {
            error = std::current_exception();
        }
        now = clock::now();
        rec.count_op();
        if (start >= win.measure_start) {
            rec.latency[static_cast<std::size_t>(kind)].record(nanos(now - start));
            if (error) {
                rec.fail(kind, error);
            }
            rec.hits += hits;
            rec.misses += misses;
            ++done;
        }
        if (++since_yield == yield_every) {
            since_yield = 0;
            co_await asio::post(ex, asio::use_awaitable);
            now = clock::now();
        }
    }
    if (now > rec.last_end) {
        rec.last_end = now;
    }
}

/// Writes keys [begin, end) once; throws the first failure.
template <class Target>
auto prefill_slice(Target& t, workload const& w, std::size_t begin, std::size_t end,
                   std::size_t value_size) -> task<void> {
    for (auto i = begin; i < end; ++i) {
        std::string key = w.keys[i];
        std::string value = w.value_pool.substr(0, value_size);
        if constexpr (Target::synchronous) {
            t.set(std::move(key), std::move(value));
        } else {
            co_await t.set(std::move(key), std::move(value));
        }
    }
}

using io_list = std::vector<std::unique_ptr<asio::io_context>>;

/// Prefills on the first io_context, from the calling thread. Returns an error message, or
/// an empty string.
template <class Target>
auto prefill(Target& t, asio::io_context& io, workload const& w, bench_options const& o)
    -> std::string {
    auto const n = std::min<std::size_t>({o.concurrency, 64, w.keys.size()});
    auto const value_size = (o.value_size_min + o.value_size_max) / 2;
    std::string error;
    std::size_t finished = 0;
    for (std::size_t i = 0; i < n; ++i) {
        auto const begin = w.keys.size() * i / n;
        auto const end = w.keys.size() * (i + 1) / n;
        asio::co_spawn(io, prefill_slice(t, w, begin, end, value_size),
                       [&](std::exception_ptr e) {
                           ++finished;
                           if (e && error.empty()) {
                               try {
                                   std::rethrow_exception(e);
                               } catch (std::exception const& ex) {
                                   error = ex.what();
                               }
                           }
                       });
    }
    // Until every slice is done (each stops at its first failure), not until the context runs
    // out of work: a network backend keeps a read pending on its connection, so `run()` would
    // never return.
    while (finished < n) {
        io.run_one();
    }
    io.restart();  // a context that ran out of work is stopped: the workers need it running
    return error;
}

template <class Target>
void drive(Target& t, io_list& ios, workload const& w, bench_options const& o, bench_result& r) {
    r.concurrency = o.concurrency;
    r.threads = o.threads;
    if (o.prefill) {
        if (auto e = prefill(t, *ios[0], w, o); !e.empty()) {
            r.note = fmt::format("prefill failed: {}", e);
        }
    }
    std::vector<recorder> recs(o.threads);
    std::atomic<std::size_t> remaining{o.concurrency};
    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
    for (auto& io : ios) {
        guards.emplace_back(io->get_executor());
    }
    window const win(o, o.concurrency);
    for (std::size_t j = 0; j < o.concurrency; ++j) {
        auto const th = j % o.threads;
        asio::co_spawn(*ios[th], worker(t, o, win, recs[th], stream(o, w, j), win.quota_for(j)),
                       [&remaining](std::exception_ptr const&) {
                           remaining.fetch_sub(1, std::memory_order_release);
                       });
    }
    std::vector<std::thread> threads;
    for (auto& io : ios) {
        threads.emplace_back([&io] { io->run(); });
    }
    auto const cpu = supervise(r.url, win, o, recs, [&remaining] {
        return remaining.load(std::memory_order_acquire) == 0;
    });
    for (auto& g : guards) {
        g.reset();
    }
    // A network backend may keep a read pending on its connection: stop, do not drain.
    for (auto& io : ios) {
        io->stop();
    }
    for (auto& th : threads) {
        th.join();
    }
    collect(r, win, recs, cpu, o.mix);
}

auto make_ios(std::size_t n) -> io_list {
    io_list ios;
    for (std::size_t i = 0; i < n; ++i) {
        ios.push_back(std::make_unique<asio::io_context>(1));
    }
    return ios;
}

}  // namespace
}  // namespace detail

auto run_bench(bench_cache_factory const& factory, std::string const& url, bench_options const& o)
    -> bench_result {
    validate(o);
    bench_result r;
    r.url = url;
    r.target = "asiocache";
    // The io_contexts outlive the cache: its backend may hold handlers queued on them.
    auto ios = detail::make_ios(o.threads);
    std::shared_ptr<asiocache::cache> c;
    try {
        c = factory(url, ios[0]->get_executor());
        if (!c) {
            throw std::runtime_error("the cache factory returned no cache");
        }
        if (!o.serializer.empty()) {
            auto s = serializers::by_name(o.serializer);
            if (!s) {
                throw std::invalid_argument(fmt::format("unknown serializer '{}'", o.serializer));
            }
            auto opts = c->options();
            opts.serializer = std::move(s);
            c = std::make_shared<asiocache::cache>(c->backend(), std::move(opts));
        }
    } catch (std::exception const& e) {
        r.ok = false;
        r.error = e.what();
        return r;
    }
    detail::workload const w(o);
    detail::cache_target t(*c, o, w);
    detail::drive(t, ios, w, o, r);
    c.reset();
    return r;
}

namespace detail {
auto run_map_baseline(std::string const& url, bench_options const& o) -> bench_result {
    bench_result r;
    r.url = url;
    r.target = "std::unordered_map+mutex";
    r.note = "one map behind one mutex, the value copied out under the lock";
    auto ios = make_ios(o.threads);
    workload const w(o);
    map_target t;
    drive(t, ios, w, o, r);
    return r;
}
}  // namespace detail

}  // namespace asiocache::bench
