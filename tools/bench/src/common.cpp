// SPDX-License-Identifier: MIT
#include "engine_detail.hpp"

#include "asiocache/errors.hpp"

#include <boost/system/system_error.hpp>

#include <fmt/format.h>

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace asiocache::bench {

auto op_name(op_kind k) -> char const* {
    switch (k) {
        case op_kind::get: return "get";
        case op_kind::set: return "set";
        case op_kind::multi_get: return "multi_get";
        case op_kind::increment: return "increment";
        case op_kind::memo: return "memo";
        case op_kind::custom: return "custom";
        case op_kind::noop: return "noop";
    }
    return "?";
}

auto op_mix::weight(op_kind k) const noexcept -> unsigned {
    switch (k) {
        case op_kind::get: return get;
        case op_kind::set: return set;
        case op_kind::multi_get: return multi_get;
        case op_kind::increment: return increment;
        case op_kind::memo: return memo;
        case op_kind::custom: return custom;
        case op_kind::noop: return noop;
    }
    return 0;
}

auto op_mix::total() const noexcept -> unsigned {
    return get + set + multi_get + increment + memo + custom + noop;
}

auto parse_op_mix(std::string const& text) -> op_mix {
    op_mix m{.get = 0, .set = 0};
    std::stringstream in(text);
    std::string item;
    while (std::getline(in, item, ',')) {
        auto const eq = item.find('=');
        auto name = item.substr(0, eq);
        unsigned w = 1;
        if (eq != std::string::npos) {
            try {
                std::size_t used = 0;
                auto const v = std::stoul(item.substr(eq + 1), &used);
                if (used != item.size() - eq - 1 || v > 1'000'000) {
                    throw std::invalid_argument("range");
                }
                w = static_cast<unsigned>(v);
            } catch (std::exception const&) {
                throw std::invalid_argument(fmt::format("bad weight in mix entry '{}'", item));
            }
        }
        bool found = false;
        for (std::size_t i = 0; i < op_kind_count; ++i) {
            if (name == op_name(static_cast<op_kind>(i))) {
                unsigned* slots[] = {&m.get,       &m.set,    &m.multi_get, &m.increment,
                                     &m.memo,      &m.custom, &m.noop};
                *slots[i] = w;
                found = true;
            }
        }
        if (!found) {
            throw std::invalid_argument(fmt::format(
                "unknown operation '{}' in mix (get, set, multi_get, increment, memo, custom, "
                "noop)",
                name));
        }
    }
    if (m.total() == 0) {
        throw std::invalid_argument("the operation mix is empty");
    }
    return m;
}

auto to_string(op_mix const& m) -> std::string {
    std::string out;
    for (std::size_t i = 0; i < op_kind_count; ++i) {
        auto const k = static_cast<op_kind>(i);
        if (m.weight(k) != 0) {
            out += fmt::format("{}{}={}", out.empty() ? "" : ",", op_name(k), m.weight(k));
        }
    }
    return out;
}

void validate(bench_options const& o) {
    auto fail = [](char const* why) { throw std::invalid_argument(why); };
    if (o.concurrency == 0) fail("concurrency must be at least 1");
    if (o.threads == 0) fail("threads must be at least 1");
    if (o.threads > o.concurrency) fail("threads must not exceed concurrency");
    if (o.mix.total() == 0) fail("the operation mix is empty");
    if (o.mix.custom != 0 && !o.custom) fail("the mix has custom operations but no custom op");
    if (o.key_count == 0) fail("key_count must be at least 1");
    if (o.multi_get_keys == 0) fail("multi_get_keys must be at least 1");
    if (o.value_size_min > o.value_size_max) fail("value size min exceeds max");
    if (o.value_size_max > (64u << 20)) fail("value size max is over 64 MiB");
    if (o.distribution == key_distribution::zipfian && !(o.zipf_exponent > 0)) {
        fail("the zipf exponent must be > 0");
    }
    if (o.operations == 0 && o.duration.count() <= 0) fail("duration must be positive");
    if (o.warmup.count() < 0) fail("warm-up must not be negative");
}

auto summarize(histogram const& h) -> latency_summary {
    return {.count = h.count(),
            .mean = h.mean(),
            .p50 = h.value_at(0.50),
            .p90 = h.value_at(0.90),
            .p99 = h.value_at(0.99),
            .p999 = h.value_at(0.999),
            .max = h.max()};
}

namespace {
auto slot_of(boost::system::error_code const& ec) -> std::size_t {
    if (ec.category() == cache_category() && ec.value() > 0 &&
        static_cast<std::size_t>(ec.value()) < detail::error_slots &&
        !to_string(static_cast<errc>(ec.value())).empty()) {
        return static_cast<std::size_t>(ec.value());
    }
    return 0;
}
}  // namespace

auto error_kind(boost::system::error_code const& ec) -> std::string {
    auto const s = slot_of(ec);
    return std::string(s == 0 ? std::string_view("other") : to_string(static_cast<errc>(s)));
}

namespace detail {

workload::workload(bench_options const& o) {
    auto const digits = fmt::formatted_size("{}", o.key_count - 1);
    auto const width = std::max<std::size_t>(digits, o.key_size > 4 ? o.key_size - 4 : 0);
    keys.reserve(o.key_count);
    counters.reserve(o.key_count);
    for (std::uint64_t i = 0; i < o.key_count; ++i) {
        keys.push_back(fmt::format("key:{:0{}}", i, width));
        counters.push_back(fmt::format("ctr:{:0{}}", i, width));
    }
    // Printable bytes, so that every serializer (string, JSON) takes them as they are.
    rng r(o.seed ^ 0x76616c7565ULL);
    value_pool.resize(std::max<std::size_t>(o.value_size_max, 1));
    for (auto& c : value_pool) {
        c = static_cast<char>('a' + r.below(26));
    }
    unsigned sum = 0;
    for (std::size_t i = 0; i < op_kind_count; ++i) {
        sum += o.mix.weight(static_cast<op_kind>(i));
        thresholds[i] = sum;
    }
    total_weight = sum;
}

stream::stream(bench_options const& o, workload const& w, std::uint64_t index)
    : w_(&w),
      rng_(o.seed * 0x9e3779b97f4a7c15ULL + index),
      min_(o.value_size_min),
      max_(o.value_size_max) {
    if (o.distribution == key_distribution::zipfian) {
        zipf_.emplace(w.keys.size(), o.zipf_exponent);
    }
}

void recorder::fail(op_kind k, boost::system::error_code const& ec, std::string_view what) {
    ++errors[static_cast<std::size_t>(k)];
    ++errors_by_code[slot_of(ec)];
    if (first_error.empty()) {
        first_error = fmt::format("{}: {}", op_name(k), what);
    }
}

void recorder::fail(op_kind k, std::exception_ptr const& e) {
    try {
        std::rethrow_exception(e);
    } catch (boost::system::system_error const& se) {
        fail(k, se.code(), se.what());
    } catch (std::exception const& ex) {
        fail(k, {}, ex.what());
    } catch (...) {
        fail(k, {}, "unknown exception");
    }
}

window::window(bench_options const& o, std::size_t worker_count)
    : start(clock::now()),
      measure_start(start + o.warmup),
      end(measure_start + o.duration),
      operations(o.operations),
      workers(worker_count) {}

auto now_cpu() -> cpu_times {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    auto secs = [](timeval t) {
        return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6;
    };
    return {secs(u.ru_utime), secs(u.ru_stime)};
}

auto supervise(std::string const& label, window const& w, bench_options const& o,
               std::vector<recorder> const& recorders, std::function<bool()> const& finished)
    -> cpu_times {
    using namespace std::chrono_literals;
    bool const terminal = o.progress && isatty(STDERR_FILENO) != 0;
    bool const long_run = w.by_count() || (o.warmup + o.duration) > 3s;
    std::optional<cpu_times> at_start;
    auto next_print = w.start + 3s;
    bool printed = false;
    while (!finished()) {
        std::this_thread::sleep_for(2ms);
        auto const now = clock::now();
        if (!at_start && now >= w.measure_start) {
            at_start = now_cpu();
        }
        if (terminal && long_run && now >= next_print) {
            std::uint64_t ops = 0;
            for (auto const& r : recorders) {
                ops += r.progress.load(std::memory_order_relaxed);
            }
            auto const phase = now < w.measure_start ? "warm-up" : "measuring";
            auto const elapsed = std::chrono::duration<double>(now - w.start).count();
            std::string of = w.by_count() ? fmt::format("{} ops", w.operations)
                                          : fmt::format("{:.0f} s",
                                                        std::chrono::duration<double>(
                                                            w.end - w.start)
                                                            .count());
            std::fprintf(stderr, "\r\033[K%s  %s  %.1f s of %s  %llu ops", label.c_str(), phase,
                         elapsed, of.c_str(), static_cast<unsigned long long>(ops));
            std::fflush(stderr);
            printed = true;
            next_print = now + 500ms;
        }
    }
    if (printed) {
        std::fprintf(stderr, "\r\033[K");
        std::fflush(stderr);
    }
    auto const end = now_cpu();
    auto const begin = at_start.value_or(end);
    return {end.user - begin.user, end.system - begin.system};
}

void collect(bench_result& r, window const& w, std::vector<recorder> const& recorders,
             cpu_times cpu, op_mix const& mix) {
    histogram all;
    std::array<histogram, op_kind_count> by_op;
    std::array<std::uint64_t, error_slots> by_code{};
    auto last = w.measure_start;
    for (auto const& rec : recorders) {
        for (std::size_t k = 0; k < op_kind_count; ++k) {
            by_op[k].merge(rec.latency[k]);
            r.errors += rec.errors[k];
        }
        for (std::size_t c = 0; c < error_slots; ++c) {
            by_code[c] += rec.errors_by_code[c];
        }
        r.hits += rec.hits;
        r.misses += rec.misses;
        last = std::max(last, rec.last_end);
        if (r.first_error.empty()) {
            r.first_error = rec.first_error;
        }
    }
    for (std::size_t k = 0; k < op_kind_count; ++k) {
        auto const kind = static_cast<op_kind>(k);
        all.merge(by_op[k]);
        if (mix.weight(kind) != 0) {
            r.latency_by_op[op_name(kind)] = summarize(by_op[k]);
            std::uint64_t errs = 0;
            for (auto const& rec : recorders) {
                errs += rec.errors[k];
            }
            r.errors_by_op[op_name(kind)] = errs;
        }
    }
    for (std::size_t c = 0; c < error_slots; ++c) {
        if (by_code[c] != 0) {
            auto const name = c == 0 ? std::string("other") : error_kind(make_error_code(static_cast<errc>(c)));
            r.errors_by_kind[name] += by_code[c];
        }
    }
    r.latency = summarize(all);
    r.operations = all.count();
    r.seconds = std::chrono::duration<double>(last - w.measure_start).count();
    r.throughput = r.seconds > 0 ? static_cast<double>(r.operations) / r.seconds : 0.0;
    r.cpu_user_seconds = cpu.user;
    r.cpu_system_seconds = cpu.system;
}

}  // namespace detail
}  // namespace asiocache::bench
