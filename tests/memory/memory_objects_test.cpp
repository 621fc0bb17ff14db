// SPDX-License-Identifier: MIT
// The memory backend keeping objects (`serializer=none`, aiocache's SimpleMemoryCache): values
// are the C++ objects themselves, typed and type-checked on read, bounded like bytes, and the
// byte operations (increment, ttl, clear, the lease's tokens) still work beside them.
#include "asiocache/asiocache.hpp"
#include "asiocache/backends/builtin.hpp"
#include "asiocache/backends/memory.hpp"
#include "asiocache/serializers.hpp"
#include "manual_clock.hpp"
#include "run_coro.hpp"

#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace {

using namespace std::chrono_literals;
using asiocache::cache;
using asiocache::deadline;
using asiocache::errc;
using asiocache::expiry;
using asiocache::task;
using asiocache::backends::make_memory_backend;
using asiocache::backends::memory_backend;
using asiocache::backends::memory_options;
using asiocache::test::manual_clock;
using asiocache::test::run;
using asiocache::test::run_error;

/// A type no serializer knows: no to_json, no codec. Only a cache that keeps objects stores it.
struct message {
    std::string user;
    std::vector<std::string> reactions;
    int copies_seen = 0;
    auto operator==(message const& o) const -> bool {
        return user == o.user && reactions == o.reactions;
    }
};

class memory_objects_test : public ::testing::Test {
protected:
    auto backend(memory_options o = {}) -> std::shared_ptr<memory_backend> {
        o.time_source = clock_;
        b_ = make_memory_backend(std::move(o));
        return b_;
    }
    auto objects(std::string ns = "app") -> cache {
        if (!b_) {
            backend();
        }
        return cache{b_, {.ns = std::move(ns), .serializer = asiocache::serializers::none()}};
    }

    boost::asio::io_context io_;
    std::shared_ptr<manual_clock> clock_ = std::make_shared<manual_clock>();
    std::shared_ptr<memory_backend> b_;
};

TEST_F(memory_objects_test, keeps_values_no_serializer_could_write) {
    auto c = objects();
    message m{"U1", {"wave", "eyes"}};
    run(io_, c.set("m", m));
    auto got = run(io_, c.get<message>("m"));
    ASSERT_TRUE(got);
    EXPECT_EQ(*got, m);
    // Every reader gets its own copy: changing one changes nothing stored.
    got->reactions.clear();
    EXPECT_EQ(run(io_, c.get<message>("m"))->reactions.size(), 2U);
    EXPECT_FALSE(run(io_, c.get<message>("absent")));
}

TEST_F(memory_objects_test, reading_another_type_fails_naming_both) {
    auto c = objects();
    run(io_, c.set("n", std::int64_t{7}));
    try {
        run(io_, c.get<std::string>("n"));
        FAIL() << "a long read as a string";
    } catch (boost::system::system_error const& e) {
        EXPECT_EQ(e.code(), errc::serialization_failed);
        std::string what = e.what();
        EXPECT_NE(what.find("app:n"), std::string::npos) << what;
        EXPECT_NE(what.find("long"), std::string::npos) << what;
        EXPECT_NE(what.find("string"), std::string::npos) << what;
    }
    EXPECT_EQ(*run(io_, c.get<std::int64_t>("n")), 7);
}

TEST_F(memory_objects_test, a_null_inside_is_a_hit_not_a_miss) {
    auto c = objects();
    run(io_, c.set("o", std::optional<int>{}));
    auto got = run(io_, c.get<std::optional<int>>("o"));
    ASSERT_TRUE(got) << "a stored empty optional is a hit";
    EXPECT_FALSE(*got);
}

TEST_F(memory_objects_test, ttl_add_multi_and_cas_work_on_objects) {
    auto c = objects();
    run(io_, c.set("t", std::string("soon"), expiry(100ms)));
    EXPECT_EQ(*run(io_, c.get<std::string>("t")), "soon");
    auto left = run(io_, c.ttl("t"));
    ASSERT_TRUE(left);
    EXPECT_EQ(left->duration(), 100ms);
    clock_->advance(100ms);
    EXPECT_FALSE(run(io_, c.get<std::string>("t")));

    run(io_, c.add("a", 1));
    EXPECT_EQ(run_error(io_, c.add("a", 2)), errc::key_exists);
    EXPECT_EQ(*run(io_, c.get<int>("a")), 1);

    run(io_, c.multi_set<message>({{"x", {"U1", {}}}, {"y", {"U2", {"ok"}}}}));
    auto many = run(io_, c.multi_get<message>({"y", "none", "x"}));
    ASSERT_EQ(many.size(), 3U);
    EXPECT_EQ(many[0]->user, "U2");
    EXPECT_FALSE(many[1]);
    EXPECT_EQ(many[2]->user, "U1");

    auto v = run(io_, c.gets<message>("x"));
    ASSERT_TRUE(v);
    EXPECT_TRUE(run(io_, c.cas("x", message{"U3", {}}, v->token)));
    EXPECT_FALSE(run(io_, c.cas("x", message{"U4", {}}, v->token))) << "the token is spent";
    EXPECT_EQ(run(io_, c.get<message>("x"))->user, "U3");

    EXPECT_TRUE(run(io_, c.exists("x")));
    EXPECT_EQ(run(io_, c.remove("x")), 1U);
    EXPECT_FALSE(run(io_, c.exists("x")));
    EXPECT_EQ(run(io_, c.clear()), 2U);  // a and y; t expired, reclaimed when read
}

TEST_F(memory_objects_test, counters_stay_bytes_and_read_back_as_numbers_or_text) {
    auto c = objects();
    EXPECT_EQ(run(io_, c.increment("hits", 5)), 5);
    EXPECT_EQ(run(io_, c.increment("hits", 2)), 7);
    EXPECT_EQ(*run(io_, c.get<std::int64_t>("hits")), 7);
    EXPECT_EQ(*run(io_, c.get<std::string>("hits")), "7");
    run(io_, c.set("obj", std::int64_t{1}));
    EXPECT_EQ(run_error(io_, c.increment("obj", 1)), errc::not_a_number)
        << "an object has no digits to add to";
}

TEST_F(memory_objects_test, byte_caches_on_the_same_store_get_a_clear_error) {
    auto c = objects("");
    run(io_, c.set("k", message{"U1", {}}));
    cache json{b_, {.serializer = asiocache::serializers::json()}};
    EXPECT_EQ(run_error(io_, json.get<std::string>("k")), errc::serialization_failed);
    EXPECT_EQ(run_error(io_, json.multi_get<std::string>({"k"})), errc::serialization_failed);
    EXPECT_EQ(run_error(io_, b_->gets("k", deadline::never())), errc::serialization_failed);
    EXPECT_FALSE(run(io_, b_->remove_if_equal("k", "", deadline::never())));
    EXPECT_TRUE(run(io_, c.exists("k")));
    // A string object compares as its text (a lease token kept by an objects cache).
    run(io_, c.set("token", std::string("t-1")));
    EXPECT_FALSE(run(io_, b_->remove_if_equal("token", "t-2", deadline::never())));
    EXPECT_TRUE(run(io_, b_->expire_if_equal("token", "t-1", expiry(5s), deadline::never())));
    EXPECT_TRUE(run(io_, b_->remove_if_equal("token", "t-1", deadline::never())));
    EXPECT_FALSE(run(io_, c.exists("token")));
}

TEST_F(memory_objects_test, text_is_kept_as_a_string_never_as_a_pointer) {
    auto c = objects();
    std::string buffer = "from a buffer";
    run(io_, c.set("p", buffer.c_str()));
    run(io_, c.set("v", std::string_view(buffer)));
    buffer.assign(buffer.size(), 'x');  // what a pointer or a view would now show
    EXPECT_EQ(*run(io_, c.get<std::string>("p")), "from a buffer");
    EXPECT_EQ(*run(io_, c.get<std::string>("v")), "from a buffer");
    run(io_, c.set("lit", "literal"));
    EXPECT_EQ(*run(io_, c.get<std::string>("lit")), "literal");
}

TEST_F(memory_objects_test, get_at_once_answers_as_get_does_and_is_counted_as_one) {
    // The memory store answers without a coroutine: the same values, misses and errors as
    // get, each counted once by the plugins, on a byte cache and on an object cache alike.
    backend({.shards = 1});
    cache bytes{b_, {.ns = "b", .serializer = asiocache::serializers::json()}};
    auto objs = objects();
    auto& counted = bytes.add_plugin<asiocache::plugins::hit_miss>();
    auto& counted_objs = objs.add_plugin<asiocache::plugins::hit_miss>();
    run(io_, bytes.set("n", 7));
    run(io_, objs.set("m", message{"ann", {"+1"}}));

    std::string key = "n";
    auto n = bytes.get_at_once<int>(key);
    ASSERT_TRUE(n.has_value()) << "the memory store answers at once";
    EXPECT_EQ(*n, std::optional<int>(7));
    std::string absent = "absent";
    auto none = bytes.get_at_once<int>(absent);
    ASSERT_TRUE(none.has_value());
    EXPECT_FALSE(none->has_value()) << "a miss is an answer too";
    std::string m = "m";
    auto got = objs.get_at_once<message>(m);
    ASSERT_TRUE(got && *got);
    EXPECT_EQ(**got, (message{"ann", {"+1"}}));
    std::string wrong = "m";
    try {
        (void)objs.get_at_once<int>(wrong);
        ADD_FAILURE() << "a message read as an int";
    } catch (boost::system::system_error const& e) {
        EXPECT_EQ(e.code(), errc::serialization_failed);
    }
    EXPECT_EQ(counted.stats().lookups, 2U);
    EXPECT_EQ(counted.stats().hits, 1U);
    EXPECT_EQ(counted_objs.stats().lookups, 1U);
    EXPECT_EQ(counted_objs.stats().hits, 1U);
    EXPECT_EQ(counted_objs.stats().errors, 1U);
}

TEST_F(memory_objects_test, an_object_is_refused_by_what_it_is_charged) {
    // The budget check and the charge agree: an object whose block and size together pass the
    // budget by one byte is refused, one that fits exactly is kept and charged exactly that.
    std::string const value(1000, 'x');
    auto const need =
        asiocache::backends::memory_object_charge(1, asiocache::make_held(value)->bytes());
    backend({.max_bytes = need - 1, .shards = 1});
    auto tight = objects("");
    EXPECT_EQ(run_error(io_, tight.set("k", value)), errc::value_too_large);
    EXPECT_EQ(b_->stats().entries, 0U);
    backend({.max_bytes = need, .shards = 1});
    auto fits = objects("");
    run(io_, fits.set("k", value));
    EXPECT_EQ(b_->stats().bytes, need);
    EXPECT_EQ(*run(io_, fits.get<std::string>("k")), value);
}

TEST_F(memory_objects_test, objects_are_charged_by_their_size_and_evicted_by_lru) {
    backend({.max_bytes = 64 * 1024, .shards = 1});
    auto c = objects();
    std::string big(20 * 1024, 'x');
    for (int i = 0; i < 6; ++i) {
        run(io_, c.set("big" + std::to_string(i), big));
    }
    auto s = b_->stats();
    EXPECT_LE(s.bytes, 64U * 1024U);
    EXPECT_GE(s.bytes, 3U * 20U * 1024U) << "each string charged its 20 KiB";
    EXPECT_EQ(s.entries, 3U);
    EXPECT_EQ(s.evictions, 3U);
    EXPECT_FALSE(run(io_, c.get<std::string>("big0"))) << "the least recently used went first";
    EXPECT_TRUE(run(io_, c.get<std::string>("big5")));
    std::string huge(100 * 1024, 'x');
    EXPECT_EQ(run_error(io_, c.set("huge", huge)), errc::value_too_large);
}

TEST_F(memory_objects_test, object_sizes_count_what_containers_own) {
    std::vector<std::string> v{std::string(1000, 'a'), "b"};
    EXPECT_GE(asiocache::object_size(v), 1000U + sizeof(v));
    std::map<std::string, std::string> m{{"k", std::string(500, 'v')}};
    EXPECT_GE(asiocache::object_size(m), 500U);
    EXPECT_EQ(asiocache::object_size(42), sizeof(int));
}

TEST_F(memory_objects_test, none_needs_a_backend_that_keeps_objects) {
    boost::asio::io_context io;
    asiocache::registry r(io.get_executor());
    asiocache::backends::register_builtin(r);
    auto c = r.make_cache("memory://?serializer=none&namespace=app");
    EXPECT_EQ(c.value_serializer().name(), "none");
    run(io, c.set("m", message{"U9", {}}));
    EXPECT_EQ(run(io, c.get<message>("m"))->user, "U9");
    try {
        (void)r.make_cache("redis://127.0.0.1:1?serializer=none");
        FAIL() << "a byte backend with serializer=none";
    } catch (boost::system::system_error const& e) {
        EXPECT_EQ(e.code(), errc::invalid_config);
        EXPECT_NE(std::string(e.what()).find("keeps objects"), std::string::npos) << e.what();
    }
}

TEST_F(memory_objects_test, memoized_results_are_kept_as_objects) {
    auto c = objects();
    int calls = 0;
    auto fetch = asiocache::cached(c, [&calls](std::string channel) -> task<message> {
        ++calls;
        co_return message{channel, {"first"}};
    }, {.key_prefix = "fetch"});
    EXPECT_EQ(run(io_, fetch("C1")).user, "C1");
    EXPECT_EQ(run(io_, fetch("C1")).user, "C1");
    EXPECT_EQ(calls, 1);
}

TEST_F(memory_objects_test, a_lease_is_taken_and_released_on_objects) {
    auto c = objects();
    int calls = 0;
    std::uint64_t held_during_call = 0;
    auto fetch = asiocache::cached(
        c,
        [&calls, &held_during_call, b = b_](std::string channel) -> task<std::string> {
            ++calls;
            held_during_call = b->stats().entries;  // the lease, and nothing else yet
            co_return channel;
        },
        {.key_prefix = "leased", .lease = asiocache::lease_options{.ttl = 5s}});
    EXPECT_EQ(run(io_, fetch("C1")), "C1");
    EXPECT_EQ(held_during_call, 1U) << "the lease was taken while the function ran";
    // The value stays; the lease (a string token kept as an object) was released by its
    // token-checked remove.
    EXPECT_EQ(b_->stats().entries, 1U);
    EXPECT_EQ(run(io_, fetch("C1")), "C1");
    EXPECT_EQ(calls, 1);
}

/// What the probes of `reentrant` objects saw. Their reads are kept here and waited for at the
/// end of the test, so a read that waited out its two seconds still ends before the store does.
struct probe_log {
    std::mutex mutex;
    std::vector<std::future<void>> reads;
    std::atomic<int> probes{0};
    std::atomic<int> held_up{0};
};

/// An object whose destructor reads its own key from another thread and waits for that read
/// (at most two seconds). Destroyed with the key's shard locked, it would wait in vain.
struct reentrant {
    memory_backend* store = nullptr;
    std::string key;
    probe_log* log = nullptr;

    reentrant(memory_backend* s, std::string k, probe_log* l)
        : store(s), key(std::move(k)), log(l) {}
    reentrant(reentrant const&) = default;
    reentrant(reentrant&& o) noexcept
        : store(std::exchange(o.store, nullptr)), key(std::move(o.key)), log(o.log) {}
    auto operator=(reentrant const&) -> reentrant& = default;
    auto operator=(reentrant&& o) noexcept -> reentrant& {
        store = std::exchange(o.store, nullptr);
        key = std::move(o.key);
        log = o.log;
        return *this;
    }
    ~reentrant() {
        if (store == nullptr) {
            return;
        }
        auto read = std::async(std::launch::async,
                               [s = store, k = key] { static_cast<void>(s->lookup(k)); });
        ++log->probes;
        if (read.wait_for(2s) != std::future_status::ready) {
            ++log->held_up;
        }
        std::lock_guard lock(log->mutex);
        log->reads.push_back(std::move(read));
    }
};

TEST_F(memory_objects_test, a_kept_object_is_destroyed_with_its_shard_unlocked) {
    // Overwritten, removed, evicted, expired and flushed: each time the store lets go of an
    // object, its destructor's read of the same key gets through.
    backend({.max_entries = 1, .shards = 1});
    auto c = objects("");
    probe_log log;
    // Whatever fails, the store lets go of every probe before the log goes.
    struct emptied {
        memory_backend& store;
        ~emptied() { store.forget_all(); }
    } const empty_at_end{*b_};
    auto const destroyed_freely = [&log](int before) {
        return log.probes.load() > before && log.held_up.load() == 0;
    };
    auto put = [&](std::string const& k) {
        run(io_, c.set(k, reentrant{b_.get(), k, &log}));
    };

    put("k");
    int before = log.probes.load();
    put("k");  // overwritten
    EXPECT_TRUE(destroyed_freely(before)) << log.held_up.load() << " destructor(s) held up";
    before = log.probes.load();
    EXPECT_EQ(run(io_, c.remove("k")), 1U);
    EXPECT_TRUE(destroyed_freely(before)) << "removed";
    put("a");
    before = log.probes.load();
    put("b");  // "a" evicted: one entry at most
    EXPECT_TRUE(destroyed_freely(before)) << "evicted";
    EXPECT_EQ(b_->stats().evictions, 1U);
    run(io_, c.set("b", reentrant{b_.get(), "b", &log}, expiry(10ms)));
    clock_->advance(10ms);
    before = log.probes.load();
    EXPECT_FALSE(run(io_, c.exists("b")));  // expired, reclaimed when read
    EXPECT_TRUE(destroyed_freely(before)) << "expired";
    put("c");
    before = log.probes.load();
    run(io_, c.clear_all());
    EXPECT_TRUE(destroyed_freely(before)) << "flushed";
    EXPECT_EQ(b_->stats().entries, 0U);

    // Waited for outside the log's lock: a read's copy of an object may be the last one, and
    // its destructor then logs a read of its own.
    for (;;) {
        std::vector<std::future<void>> reads;
        {
            std::lock_guard lock(log.mutex);
            reads.swap(log.reads);
        }
        if (reads.empty()) {
            break;
        }
        for (auto& read : reads) {
            read.get();
        }
    }
}

}  // namespace
