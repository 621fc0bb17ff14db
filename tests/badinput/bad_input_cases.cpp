// SPDX-License-Identifier: MIT
// The bad-input cases, in the order of docs/bad-input.md. Each asserts one specific error code
// (or the exact outcome when the input is legal), never just "it threw".
#include <gtest/gtest.h>

#include <boost/system/system_error.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <thread>
#include <unistd.h>

#include "asiocache/backends/builtin.hpp"
#include "asiocache/registry.hpp"
#include "asiocache/serializers.hpp"
#include "asiocache/url.hpp"
#include "bad_input.hpp"
#include "run_coro.hpp"
#include "tools/process.hpp"

namespace asiocache::test::bad_input {
namespace {

using namespace std::chrono_literals;
using asiocache::errc;
using asiocache::expiry;
using asiocache::task;

struct person {
    std::string name;
    int age = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(person, name, age)

auto contains(std::string_view text, std::string_view part) -> bool {
    return text.find(part) != std::string_view::npos;
}

/// Runs `t` and expects it to throw `system_error` with `want`, whose message mentions
/// `mention` (when given) and never `secret` (when given).
template <class T>
void expect_error(env& e, task<T> t, errc want, std::string const& mention = {},
                  std::string const& secret = {}) {
    try {
        run(e.io, std::move(t));
        ADD_FAILURE() << "expected " << make_error_code(want).message() << ", but it succeeded";
    } catch (boost::system::system_error const& x) {
        EXPECT_EQ(x.code(), make_error_code(want)) << x.what();
        if (!mention.empty()) {
            EXPECT_TRUE(contains(x.what(), mention)) << x.what() << " lacks " << mention;
        }
        if (!secret.empty()) {
            EXPECT_FALSE(contains(x.what(), secret)) << x.what();
        }
    }
}

/// The same for synchronous calls (URLs, config files).
template <class F>
void expect_thrown(F&& f, errc want, std::string const& mention = {},
                   std::string const& secret = {}) {
    try {
        f();
        ADD_FAILURE() << "expected " << make_error_code(want).message() << ", but it succeeded";
    } catch (boost::system::system_error const& x) {
        EXPECT_EQ(x.code(), make_error_code(want)) << x.what();
        if (!mention.empty()) {
            EXPECT_TRUE(contains(x.what(), mention)) << x.what() << " lacks " << mention;
        }
        if (!secret.empty()) {
            EXPECT_FALSE(contains(x.what(), secret)) << x.what();
        }
    }
}

auto is_mc(env const& e) -> bool { return e.kind == where::memcached; }

// The case's cache with another serializer: the same backend (and so the same memory store).
auto with_serializer(env const& e, std::shared_ptr<asiocache::serializer const> s)
    -> asiocache::cache {
    return asiocache::cache{e.cache->backend(), {.ns = "bi", .serializer = std::move(s)}};
}

// Stores and reads back `key` exactly, and checks that no other key answers for it.
void round_trip(env& e, std::string const& key, std::string const& other = "other") {
    auto& c = *e.cache;
    run(e.io, c.set(key, std::string("value of the odd key")));
    EXPECT_EQ(run(e.io, c.get<std::string>(key)), std::optional<std::string>("value of the odd key"));
    EXPECT_EQ(run(e.io, c.get<std::string>(other)), std::nullopt);
}

// A memcached key the server would refuse: every operation fails with invalid_key before any
// byte is sent, and nothing is stored under a cut or altered form of it.
void refused_key(env& e, std::string const& key) {
    auto& c = *e.cache;
    expect_error(e, c.set(key, std::string("v")), errc::invalid_key);
    expect_error(e, c.get<std::string>(key), errc::invalid_key);
}

// `key`: a memory/redis round trip; memcached refuses it.
auto binary_safe_key(std::string key) -> std::function<void(env&)> {
    return [key](env& e) {
        if (is_mc(e)) {
            refused_key(e, key);
        } else {
            round_trip(e, key);
        }
    };
}

auto all_bytes() -> std::string {
    std::string s;
    for (int b = 0; b < 256; ++b) {
        s += static_cast<char>(b);
    }
    return s;
}

// Stores a previous value, tries `t`, expects `want`, and checks the previous value survived.
template <class F>
void keeps_previous(env& e, std::string const& key, F&& attempt, errc want) {
    auto& c = *e.cache;
    run(e.io, c.set(key, std::string("previous")));
    expect_error(e, attempt(), want, key);
    EXPECT_EQ(run(e.io, c.get<std::string>(key)), std::optional<std::string>("previous"));
}

// Writes `bytes` raw under the cache's key for `key`, then expects get<T> to fail with
// serialization_failed naming the key (never a miss, never a default value).
template <class T>
void corrupt(env& e, std::string const& bytes, asiocache::cache* reader = nullptr) {
    auto& c = reader != nullptr ? *reader : *e.cache;
    auto full = c.build_key("payload");
    e.write_raw(full, bytes);
    expect_error(e, c.get<T>("payload"), errc::serialization_failed, full);
}

// The stored text `stored`, incremented: not_a_number, and the value is unchanged.
void incr_refused(env& e, std::string const& stored) {
    auto& c = *e.cache;
    auto full = c.build_key("counter");
    e.write_raw(full, stored);
    expect_error(e, c.increment("counter", 1), errc::not_a_number);
    auto raw = with_serializer(e, asiocache::serializers::bytes());
    EXPECT_EQ(run(e.io, raw.get<std::string>("counter")), std::optional<std::string>(stored));
}

auto url_refused(std::string url, errc want, std::string mention, std::string secret = {})
    -> std::function<void(env&)> {
    return [=](env& e) {
        expect_thrown([&] { (void)asiocache::make_cache(url, e.io.get_executor()); }, want,
                      mention, secret);
    };
}

// A config file holding `text`, loaded into a registry: `want` naming `mention`.
auto config_refused(std::string text, errc want, std::string mention)
    -> std::function<void(env&)> {
    return [=](env& e) {
        auto path = std::filesystem::temp_directory_path() /
                    fmt::format("asiocache-bad-input-{}.json", ::getpid());
        std::ofstream(path, std::ios::binary) << text;
        asiocache::registry caches{e.io.get_executor()};
        asiocache::backends::register_builtin(caches);
        caches.add("kept", "memory://");
        expect_thrown([&] { caches.load_config_file(path); }, want, mention);
        // All entries are checked before any is added: the registry is as it was.
        EXPECT_EQ(caches.aliases(), std::vector<std::string>{"kept"});
        std::filesystem::remove(path);
    };
}

// A config file that loads, but whose default cache cannot be built: `want` naming `mention`.
auto config_refused_on_use(std::string text, errc want, std::string mention)
    -> std::function<void(env&)> {
    return [=](env& e) {
        asiocache::registry caches{e.io.get_executor()};
        asiocache::backends::register_builtin(caches);
        caches.load_config(nlohmann::json::parse(text));
        expect_thrown([&] { (void)caches.get("default"); }, want, mention);
    };
}

#ifdef ASIOCACHE_CLI_BIN
auto cli(std::vector<std::string> args, std::string const& input = {},
         std::vector<std::string> env_vars = {"ASIOCACHE_URL", "ASIOCACHE_CONFIG"})
    -> process_result {
    args.insert(args.begin(), ASIOCACHE_CLI_BIN);
    return run_process(args, input, env_vars);
}
#endif

// A command-line case: `fn` gets the server URL ("" for none) and runs the tool.
auto cli_case(std::function<void(env&)> fn) -> std::function<void(env&)> {
    return [fn](env& e) {
#ifdef ASIOCACHE_CLI_BIN
        fn(e);
#else
        (void)e;
        (void)fn;
        GTEST_SKIP() << "built without the asiocache tool (ASIOCACHE_BUILD_TOOLS=OFF)";
#endif
    };
}

auto build_cases() -> std::vector<bad_case> {
    std::vector<bad_case> table;
    auto add = [&](std::string id, std::string area, std::string input, unsigned backends,
                   std::string expected, std::function<void(env&)> fn) {
        table.push_back({std::move(id), std::move(area), std::move(input), backends,
                     std::move(expected), std::move(fn)});
    };

    // ---- keys ----
    add("K01", "keys", "empty key `\"\"` (namespace `bi`)", on_all,
        "stored and read back under the namespace alone (aiocache's layout)",
        [](env& e) { round_trip(e, ""); });
    add("K02", "keys", "empty key with the namespace switched off for the call", on_all,
        "memory, redis: stored and read back; memcached: `invalid_key`", [](env& e) {
            auto& c = *e.cache;
            asiocache::call_options no_ns{.ns = std::string()};
            if (is_mc(e)) {
                expect_error(e, c.set("", std::string("v"), {}, no_ns), errc::invalid_key);
            } else {
                run(e.io, c.set("", std::string("v"), {}, no_ns));
                EXPECT_EQ(run(e.io, c.get<std::string>("", no_ns)), "v");
            }
        });
    add("K03", "keys", "1 MiB key", on_all,
        "memory, redis: stored and read back; memcached: `invalid_key`, never truncated",
        binary_safe_key(std::string(1 << 20, 'k')));
    add("K04", "keys", "key of 248 bytes (250 with the namespace: memcached's limit)", on_all,
        "stored and read back", [](env& e) { round_trip(e, std::string(248, 'k')); });
    add("K05", "keys", "key of 249 bytes (251 with the namespace)", on_all,
        "memory, redis: stored and read back; memcached: `invalid_key`, never truncated to 250",
        [](env& e) {
            std::string key(249, 'k');
            if (is_mc(e)) {
                refused_key(e, key);
                // Not stored under the 250-byte prefix either.
                EXPECT_EQ(run(e.io, e.cache->get<std::string>(std::string(248, 'k'))),
                          std::nullopt);
            } else {
                round_trip(e, key, std::string(248, 'k'));
            }
        });
    add("K06", "keys", "key with a NUL byte `a\\0b`", on_all,
        "memory, redis: stored; `a` stays a miss; memcached: `invalid_key`", [](env& e) {
            std::string key("a\0b", 3);
            if (is_mc(e)) {
                refused_key(e, key);
            } else {
                round_trip(e, key, "a");
            }
        });
    add("K07", "keys", "key holding all 256 byte values", on_all,
        "memory, redis: stored and read back; memcached: `invalid_key`",
        binary_safe_key(all_bytes()));
    add("K08", "keys", "Unicode key `ключ✓😀`", on_all, "stored and read back",
        [](env& e) { round_trip(e, "ключ✓😀"); });
    add("K09", "keys", "invalid UTF-8 key `\\xff\\xfe`", on_all, "stored and read back",
        [](env& e) { round_trip(e, "\xff\xfe"); });
    add("K10", "keys", "key with a space `a b`", on_all,
        "memory, redis: distinct from `a_b`; memcached: stored as `a_b` (aiocache's layout)",
        [](env& e) {
            auto& c = *e.cache;
            run(e.io, c.set("a b", std::string("spaced")));
            EXPECT_EQ(run(e.io, c.get<std::string>("a b")), "spaced");
            auto under = run(e.io, c.get<std::string>("a_b"));
            if (is_mc(e)) {
                EXPECT_EQ(under, "spaced");
            } else {
                EXPECT_EQ(under, std::nullopt);
            }
        });
    add("K11", "keys", "protocol injection `k\\r\\nflush_all` as a key", on_all,
        "memory, redis: an ordinary key; memcached: `invalid_key`; nothing is flushed",
        binary_safe_key("k\r\nflush_all"));
    add("K12", "keys", "key with a tab", on_all,
        "memory, redis: stored; memcached: `invalid_key`", binary_safe_key("a\tb"));
    add("K13", "keys", "key with DEL (0x7f)", on_all,
        "memory, redis: stored; memcached: `invalid_key`", binary_safe_key("a\x7f" "b"));
    add("K14", "keys", "key `~:x` in memcached's reserved generation space", on_memcached,
        "`invalid_key` with `namespace_generations=true` and no namespace", [](env& e) {
            auto gen = e.make("namespace_generations=true");
            expect_error(e, gen.set("~:x", std::string("v")), errc::invalid_key, "reserved");
        });
    add("K15", "keys", "`multi_get` of two good keys around a control-character key", on_all,
        "memory, redis: three results in order; memcached: `invalid_key` for the call",
        [](env& e) {
            auto& c = *e.cache;
            run(e.io, c.set("g1", 1));
            run(e.io, c.set("g2", 2));
            std::vector<std::string> keys{"g1", "bad\x01key", "g2"};
            if (is_mc(e)) {
                expect_error(e, c.multi_get<int>(keys), errc::invalid_key);
            } else {
                auto got = run(e.io, c.multi_get<int>(keys));
                ASSERT_EQ(got.size(), 3U);
                EXPECT_EQ(got[0], 1);
                EXPECT_EQ(got[1], std::nullopt);
                EXPECT_EQ(got[2], 2);
            }
        });
    add("K16", "keys", "`exists`, `remove`, `increment`, `expire` on a control-character key",
        on_memcached, "`invalid_key` from each, before anything is sent", [](env& e) {
            auto& c = *e.cache;
            std::string key = "bad\nkey";
            expect_error(e, c.exists(key), errc::invalid_key);
            expect_error(e, c.remove(key), errc::invalid_key);
            expect_error(e, c.increment(key, 1), errc::invalid_key);
            expect_error(e, c.expire(key, expiry(10s)), errc::invalid_key);
        });
    add("K17", "keys", "glob characters in a namespace: `clear()` on namespace `x*`",
        on_memory | on_redis, "removes `x*`'s keys only; namespace `xy` keeps its keys",
        [](env& e) {
            auto star = e.make("namespace=x*");
            // The same backend (for memory, the same store) under another namespace.
            asiocache::cache xy{star.backend(), {.ns = "xy"}};
            run(e.io, star.set("k", 1));
            run(e.io, xy.set("k", 2));
            EXPECT_EQ(run(e.io, star.clear()), 1U);
            EXPECT_EQ(run(e.io, xy.get<int>("k")), 2);
            EXPECT_EQ(run(e.io, star.get<int>("k")), std::nullopt);
        });

    // ---- values ----
    add("V01", "values", "empty string (JSON serializer)", on_all,
        "a hit holding `\"\"`, not a miss", [](env& e) {
            run(e.io, e.cache->set("empty", std::string()));
            EXPECT_EQ(run(e.io, e.cache->get<std::string>("empty")), std::string());
        });
    add("V02", "values", "empty value (bytes serializer: zero bytes stored)", on_all,
        "a hit holding zero bytes, not a miss", [](env& e) {
            auto raw = with_serializer(e, asiocache::serializers::bytes());
            run(e.io, raw.set("empty", std::string()));
            EXPECT_EQ(run(e.io, raw.get<std::string>("empty")), std::string());
            EXPECT_TRUE(run(e.io, raw.exists("empty")));
        });
    add("V03", "values", "1 MiB value (bytes)", on_all,
        "memory, redis: stored and read back; memcached: `value_too_large` (its 1 MiB item "
        "limit), previous value kept",
        [](env& e) {
            std::string big(1 << 20, 'v');
            if (is_mc(e)) {
                keeps_previous(e, "big", [&] { return e.cache->set("big", big); },
                               errc::value_too_large);
            } else {
                run(e.io, e.cache->set("big", big));
                EXPECT_EQ(run(e.io, e.cache->get<std::string>("big")), big);
            }
        });
    add("V04", "values", "value 8 KiB under 1 MiB", on_all, "stored and read back", [](env& e) {
        std::string v((1 << 20) - 8192, 'v');
        run(e.io, e.cache->set("near", v));
        EXPECT_EQ(run(e.io, e.cache->get<std::string>("near")), v);
    });
    add("V05", "values", "2 MiB value", on_all,
        "memory, redis: stored and read back; memcached: `value_too_large`, previous value kept",
        [](env& e) {
            std::string big(2 << 20, 'v');
            if (is_mc(e)) {
                keeps_previous(e, "big", [&] { return e.cache->set("big", big); },
                               errc::value_too_large);
            } else {
                run(e.io, e.cache->set("big", big));
                EXPECT_EQ(run(e.io, e.cache->get<std::string>("big"))->size(), big.size());
            }
        });
    add("V06", "values",
        "1 MiB value to Redis with `max_reply_bytes=1m` (the 512 MiB limit's logic, scaled "
        "down)",
        on_redis, "`value_too_large` before sending; previous value kept", [](env& e) {
            auto capped = e.make("namespace=bi&max_reply_bytes=1m");
            run(e.io, capped.set("big", std::string("previous")));
            expect_error(e, capped.set("big", std::string(1 << 20, 'v')), errc::value_too_large);
            EXPECT_EQ(run(e.io, capped.get<std::string>("big")), "previous");
        });
    add("V07", "values", "1 MiB value into `memory://?max_bytes=64k`", on_memory,
        "`value_too_large`; previous value kept", [](env& e) {
            auto small = e.make("namespace=bi&max_bytes=64k");
            run(e.io, small.set("big", std::string("previous")));
            expect_error(e, small.set("big", std::string(1 << 20, 'v')), errc::value_too_large);
            EXPECT_EQ(run(e.io, small.get<std::string>("big")), "previous");
        });
    add("V08", "values", "all 256 byte values, twice, as a string", on_all,
        "stored and read back byte for byte", [](env& e) {
            auto raw = with_serializer(e, asiocache::serializers::bytes());
            auto v = all_bytes() + all_bytes();
            run(e.io, raw.set("bin", v));
            EXPECT_EQ(run(e.io, raw.get<std::string>("bin")), v);
        });
    add("V09", "values", "value `a\\r\\nEND\\r\\nVALUE x 0 1\\r\\n` (protocol terminators)", on_all,
        "stored and read back exactly; no other key appears", [](env& e) {
            std::string v = "a\r\nEND\r\nVALUE x 0 1\r\n";
            run(e.io, e.cache->set("framing", v));
            EXPECT_EQ(run(e.io, e.cache->get<std::string>("framing")), v);
            EXPECT_EQ(run(e.io, e.cache->get<std::string>("x")), std::nullopt);
        });
    add("V10", "values", "string with invalid UTF-8 `\\xff\\xfe` through the JSON serializer",
        on_all, "`serialization_failed` naming the key; previous value kept", [](env& e) {
            keeps_previous(e, "utf", [&] { return e.cache->set("utf", std::string("\xff\xfe")); },
                           errc::serialization_failed);
        });
    add("V11", "values", "doubles `NaN`, `Infinity`, `-0.0` through JSON", on_all,
        "read back as NaN, infinity and negative zero (Python's spelling on the wire)",
        [](env& e) {
            auto& c = *e.cache;
            run(e.io, c.set("nan", std::numeric_limits<double>::quiet_NaN()));
            run(e.io, c.set("inf", std::numeric_limits<double>::infinity()));
            run(e.io, c.set("nz", -0.0));
            EXPECT_TRUE(std::isnan(*run(e.io, c.get<double>("nan"))));
            EXPECT_EQ(run(e.io, c.get<double>("inf")), std::numeric_limits<double>::infinity());
            EXPECT_TRUE(std::signbit(*run(e.io, c.get<double>("nz"))));
        });

    // ---- corrupt stored payloads ----
    add("P01", "payloads", "`not json{` read as `get<std::string>` (JSON)", on_all,
        "`serialization_failed` naming the key", [](env& e) { corrupt<std::string>(e, "not json{"); });
    add("P02", "payloads", "`1.5` read as `get<int64_t>`", on_all,
        "`serialization_failed` (never 1)", [](env& e) { corrupt<std::int64_t>(e, "1.5"); });
    add("P03", "payloads", "`\"text\"` read as `get<int64_t>`", on_all, "`serialization_failed`",
        [](env& e) { corrupt<std::int64_t>(e, "\"text\""); });
    add("P04", "payloads", "zero bytes read as `get<std::string>` (JSON)", on_all,
        "`serialization_failed` (not a miss, not `\"\"`)",
        [](env& e) { corrupt<std::string>(e, ""); });
    add("P05", "payloads", "`18446744073709551615` read as `get<int64_t>`", on_all,
        "`serialization_failed` (never -1)",
        [](env& e) { corrupt<std::int64_t>(e, "18446744073709551615"); });
    add("P06", "payloads", "`{\"name\": 1}` read as a user struct", on_all,
        "`serialization_failed`", [](env& e) { corrupt<person>(e, R"({"name": 1})"); });
    add("P07", "payloads", "`null` read as `get<std::string>` and as `get<std::optional<std::string>>`",
        on_all, "`serialization_failed`; as an optional: a hit holding an empty optional",
        [](env& e) {
            corrupt<std::string>(e, "null");
            auto v = run(e.io, e.cache->get<std::optional<std::string>>("payload"));
            ASSERT_TRUE(v.has_value());
            EXPECT_EQ(*v, std::nullopt);
        });
    add("P08", "payloads", "JSON holding the internal NaN placeholder string next to a `NaN`",
        on_all, "`serialization_failed` (never misread as a number)", [](env& e) {
            corrupt<std::vector<double>>(e, R"(["\u0001asiocache-nonfinite:nan", NaN])");
        });
    add("P09", "payloads", "binary garbage `\\xff\\x00\\xfe` (JSON)", on_all,
        "`serialization_failed`",
        [](env& e) { corrupt<std::string>(e, std::string("\xff\0\xfe", 3)); });
    add("P10", "payloads", "truncated MsgPack string `\\xa5ab` (`serializer=msgpack`)", on_all,
        "`serialization_failed`", [](env& e) {
            auto mp = with_serializer(e, asiocache::serializers::msgpack());
            corrupt<std::string>(e, "\xa5" "ab", &mp);
        });
    add("P11", "payloads", "CBOR unsigned 2^64-1 read as `get<int64_t>` (`serializer=cbor`)",
        on_all, "`serialization_failed` (never -1)", [](env& e) {
            auto cb = with_serializer(e, asiocache::serializers::cbor());
            corrupt<std::int64_t>(e, "\x1b\xff\xff\xff\xff\xff\xff\xff\xff", &cb);
        });
    add("P12", "payloads", "`12abc` read as `get<int>` (`serializer=string`)", on_all,
        "`serialization_failed`", [](env& e) {
            auto st = with_serializer(e, asiocache::serializers::string());
            corrupt<int>(e, "12abc", &st);
        });
    add("P13", "payloads", "1 MiB less 4 KiB of MsgPack array headers (a million levels deep)",
        on_all,
        "`serialization_failed` (past 512 levels), not a stack overflow", [](env& e) {
            auto mp = with_serializer(e, asiocache::serializers::msgpack());
            // Under memcached's 1 MiB item limit, and deep enough to overflow the stack.
            std::string deep((1 << 20) - 4096, '\x91');
            deep.back() = '\xc0';
            corrupt<nlohmann::json>(e, deep, &mp);
        });
    add("P14", "payloads", "200 KB of nested JSON arrays around a `NaN`", on_all,
        "`serialization_failed` (past 512 levels), not a stack overflow", [](env& e) {
            std::string deep(100'000, '[');
            deep += "NaN";
            deep.append(100'000, ']');
            corrupt<nlohmann::json>(e, deep);
        });
    add("P15", "payloads", "MsgPack string header announcing 4 GiB, 5 bytes in all", on_all,
        "`serialization_failed` without allocating 4 GiB", [](env& e) {
            auto mp = with_serializer(e, asiocache::serializers::msgpack());
            corrupt<std::string>(e, "\xdb\xff\xff\xff\xff", &mp);
        });

    // ---- increment ----
    add("I01", "increment", "on a JSON string `\"abc\"`", on_all,
        "`not_a_number`; value unchanged", [](env& e) { incr_refused(e, "\"abc\""); });
    add("I02", "increment", "on `1.5`", on_all, "`not_a_number`; value unchanged",
        [](env& e) { incr_refused(e, "1.5"); });
    add("I03", "increment", "on `12abc`", on_all, "`not_a_number`; value unchanged",
        [](env& e) { incr_refused(e, "12abc"); });
    add("I04", "increment", "on ` 1` (leading space)", on_all,
        "memory, redis: `not_a_number`, value unchanged; memcached: 2, stored as `2 ` (the "
        "server reads the space and pads the number to the old length; JSON still reads 2)",
        [](env& e) {
            if (!is_mc(e)) {
                incr_refused(e, " 1");
                return;
            }
            e.write_raw(e.cache->build_key("counter"), " 1");
            EXPECT_EQ(run(e.io, e.cache->increment("counter", 1)), 2);
            EXPECT_EQ(run(e.io, e.cache->get<std::int64_t>("counter")), 2);
        });
    add("I05", "increment", "on an empty value", on_all, "`not_a_number`; value unchanged",
        [](env& e) { incr_refused(e, ""); });
    add("I06", "increment", "on a 64 KiB run of digits", on_all,
        "`not_a_number`; value unchanged", [](env& e) { incr_refused(e, std::string(65536, '7')); });
    add("I07", "increment", "by 1 past `9223372036854775807`", on_all,
        "`invalid_argument` (redis: from the server's overflow message); never a wrapped value; "
        "value unchanged",
        [](env& e) {
            auto& c = *e.cache;
            auto full = c.build_key("counter");
            e.write_raw(full, "9223372036854775807");
            try {
                auto v = run(e.io, c.increment("counter", 1));
                ADD_FAILURE() << "increment past INT64_MAX returned " << v;
            } catch (boost::system::system_error const& x) {
                EXPECT_EQ(x.code(), make_error_code(errc::invalid_argument)) << x.what();
            }
            EXPECT_EQ(run(e.io, c.get<std::int64_t>("counter")),
                      std::numeric_limits<std::int64_t>::max());
        });
    add("I08", "increment", "a counter at 1 by -5", on_all,
        "-4 (memcached, which cannot go below 0 on its own, included)", [](env& e) {
            auto& c = *e.cache;
            EXPECT_EQ(run(e.io, c.increment("counter", 1)), 1);
            EXPECT_EQ(run(e.io, c.increment("counter", -5)), -4);
            EXPECT_EQ(run(e.io, c.get<std::int64_t>("counter")), -4);
        });

    // ---- TTLs ----
    add("T01", "ttl", "`set` with a TTL of -1 s", on_all,
        "`invalid_argument`; previous value kept", [](env& e) {
            keeps_previous(e, "t", [&] { return e.cache->set("t", std::string("new"), expiry(-1s)); },
                           errc::invalid_argument);
        });
    add("T02", "ttl", "`add` with a TTL of -1 ms on a missing key", on_all,
        "`invalid_argument`; nothing stored", [](env& e) {
            expect_error(e, e.cache->add("t", std::string("new"), expiry(-1ms)),
                         errc::invalid_argument);
            EXPECT_EQ(run(e.io, e.cache->get<std::string>("t")), std::nullopt);
        });
    add("T03", "ttl", "`expire` with a TTL of -1 s", on_all,
        "`invalid_argument`; the key keeps its value", [](env& e) {
            run(e.io, e.cache->set("t", std::string("kept")));
            expect_error(e, e.cache->expire("t", expiry(-1s)), errc::invalid_argument);
            EXPECT_EQ(run(e.io, e.cache->get<std::string>("t")), "kept");
        });
    add("T04", "ttl", "TTL of 1 ns", on_memory | on_redis,
        "rounds up to 1 ms (expires), never to \"no expiry\"", [](env& e) {
            run(e.io, e.cache->set("t", std::string("brief"), expiry(1ns)));
            std::this_thread::sleep_for(30ms);
            EXPECT_EQ(run(e.io, e.cache->get<std::string>("t")), std::nullopt);
        });
    add("T05", "ttl", "TTL of 100 years", on_all,
        "memory, redis: stored and readable; memcached: `invalid_argument` (past its 32-bit "
        "clock in 2038), previous value kept",
        [](env& e) {
            auto century = expiry(std::chrono::hours(24 * 365 * 100));
            if (is_mc(e)) {
                keeps_previous(e, "t",
                               [&] { return e.cache->set("t", std::string("new"), century); },
                               errc::invalid_argument);
            } else {
                run(e.io, e.cache->set("t", std::string("long"), century));
                EXPECT_EQ(run(e.io, e.cache->get<std::string>("t")), "long");
                auto left = run(e.io, e.cache->ttl("t"));
                ASSERT_TRUE(left.has_value());
                EXPECT_GT(left->duration(), std::chrono::hours(24 * 365 * 99));
            }
        });
    add("T06", "ttl", "TTL of 30 days + 1 s (memcached's relative/absolute boundary)", on_all,
        "stored and readable, `ttl` about 30 days (memcached: sent as an absolute time)",
        [](env& e) {
            run(e.io, e.cache->set("t", std::string("month"), expiry(24h * 30 + 1s)));
            EXPECT_EQ(run(e.io, e.cache->get<std::string>("t")), "month");
            auto left = run(e.io, e.cache->ttl("t"));
            ASSERT_TRUE(left.has_value());
            ASSERT_FALSE(left->is_never());
            EXPECT_GE(left->duration(), 24h * 30 - 5s);
            EXPECT_LE(left->duration(), 24h * 30 + 3s);  // memcached's clock lags by up to 1 s
        });
    add("T07", "ttl", "TTL of `std::chrono::milliseconds::max()`", on_all,
        "memory: stored and readable (never silently expired); redis: `backend_error` (the "
        "server's invalid expire time); memcached: `invalid_argument`; previous value kept "
        "where refused",
        [](env& e) {
            auto forever = expiry(std::chrono::milliseconds::max());
            if (e.kind == where::memory) {
                run(e.io, e.cache->set("t", std::string("max"), forever));
                EXPECT_EQ(run(e.io, e.cache->get<std::string>("t")), "max");
                return;
            }
            keeps_previous(e, "t", [&] { return e.cache->set("t", std::string("max"), forever); },
                           is_mc(e) ? errc::invalid_argument : errc::backend_error);
        });
    add("T09", "ttl", "per-call timeout of `std::chrono::milliseconds::max()`", on_all,
        "the operation runs (a miss), never an instant timeout", [](env& e) {
            asiocache::call_options o{.timeout = std::chrono::milliseconds::max()};
            EXPECT_EQ(run(e.io, e.cache->get<std::string>("absent", o)), std::nullopt);
        });
    add("T08", "ttl", "TTL 0 (explicit)", on_all, "no expiry: the value stays", [](env& e) {
        run(e.io, e.cache->set("t", std::string("stays"), expiry(0s)));
        EXPECT_EQ(run(e.io, e.cache->get<std::string>("t")), "stays");
        EXPECT_EQ(run(e.io, e.cache->ttl("t")), expiry::never());
    });

    // ---- URLs (make_cache) ----
    add("U01", "url", "`\"\"`", on_none, "`invalid_config`", url_refused("", errc::invalid_config, "not a cache URL"));
    add("U02", "url", "`redis://127.0.0.1:0`", on_none, "`invalid_config` naming the port",
        url_refused("redis://127.0.0.1:0", errc::invalid_config, "port '0'"));
    add("U03", "url", "`redis://127.0.0.1:65536`", on_none, "`invalid_config` naming the port",
        url_refused("redis://127.0.0.1:65536", errc::invalid_config, "65536"));
    add("U04", "url", "`memory://?bogus=1`", on_none, "`invalid_config` naming `bogus`",
        url_refused("memory://?bogus=1", errc::invalid_config, "bogus"));
    add("U05", "url", "`nosuch://h`", on_none, "`unknown_backend` naming `nosuch`",
        url_refused("nosuch://h", errc::unknown_backend, "nosuch"));
    add("U06", "url", "`redis://app:hunter2@h@x` (unencoded `@` in the password)", on_none,
        "`invalid_config`; the message never shows the password",
        url_refused("redis://app:hunter2@h@x", errc::invalid_config, "", "hunter2"));
    add("U07", "url", "`memory://?ttl=soon`", on_none, "`invalid_config` naming `ttl`",
        url_refused("memory://?ttl=soon", errc::invalid_config, "'ttl'"));
    add("U08", "url", "`memory://?ttl=-1s`", on_none, "`invalid_config` naming `ttl`",
        url_refused("memory://?ttl=-1s", errc::invalid_config, "'ttl'"));
    add("U09", "url", "`memory://?ttl=99999999999999999999h` (overflows)", on_none,
        "`invalid_config` naming `ttl`",
        url_refused("memory://?ttl=99999999999999999999h", errc::invalid_config, "'ttl'"));
    add("U10", "url", "`memory://?max_entries=-1`", on_none,
        "`invalid_config` naming `max_entries`",
        url_refused("memory://?max_entries=-1", errc::invalid_config, "max_entries"));
    add("U11", "url", "`memcached://a,,b`", on_none, "`invalid_config` (empty host)",
        url_refused("memcached://a,,b", errc::invalid_config, "empty host"));
    add("U12", "url", "`redis://h/1?db=2`", on_none, "`invalid_config` (database given twice)",
        url_refused("redis://h/1?db=2", errc::invalid_config, "db"));
    add("U13", "url", "`redis://h?timeout=5s&timeout=6s`", on_none,
        "`invalid_config` (parameter given twice)",
        url_refused("redis://h?timeout=5s&timeout=6s", errc::invalid_config, "twice"));
    add("U14", "url", "`memcached://h?binary=maybe`", on_none, "`invalid_config` naming `binary`",
        url_refused("memcached://h?binary=maybe", errc::invalid_config, "binary"));
    add("U15", "url", "`redis://[::1` (unclosed IPv6 bracket)", on_none, "`invalid_config`",
        url_refused("redis://[::1", errc::invalid_config, "malformed"));
    add("U16", "url", "`memory://?serializer=pickle`", on_none,
        "`invalid_config` naming `pickle`",
        url_refused("memory://?serializer=pickle", errc::invalid_config, "pickle"));
    add("U17", "url", "`redis://h\\n?x=1` (a newline in the host)", on_none, "`invalid_config`",
        url_refused("redis://h\n?x=1", errc::invalid_config, "malformed"));
    add("U18", "url", "`redis://h/99999999999` (database number overflows)", on_none,
        "`invalid_config` naming the database",
        url_refused("redis://h/99999999999", errc::invalid_config, "database"));
    add("U19", "url", "`memcached://h?binary=true` (the former libmemcached client's option)",
        on_none, "`invalid_config` naming the meta text protocol asiocache speaks instead",
        url_refused("memcached://h?binary=true", errc::invalid_config, "meta text protocol"));
    add("U20", "url", "`memcached://h?threads=4` (the former client's worker threads)", on_none,
        "`invalid_config` naming `connections`, which replaces it",
        url_refused("memcached://h?threads=4", errc::invalid_config, "connections"));
    add("U21", "url", "`memcached://h?max_queue=100` (the former client's queue bound)", on_none,
        "`invalid_config` naming `max_in_flight`, which replaces it",
        url_refused("memcached://h?max_queue=100", errc::invalid_config, "max_in_flight"));

    // ---- config files (registry) ----
    add("C01", "config", "a config file that does not exist", on_none,
        "`invalid_config` naming the file", [](env& e) {
            asiocache::registry caches{e.io.get_executor()};
            expect_thrown([&] { caches.load_config_file("/nonexistent/asiocache.json"); },
                          errc::invalid_config, "/nonexistent/asiocache.json");
        });
    add("C02", "config", "an empty file", on_none, "`invalid_config` (not valid JSON)",
        config_refused("", errc::invalid_config, "not valid JSON"));
    add("C03", "config", "binary garbage `\\x00\\xff\\xfe`", on_none,
        "`invalid_config` (not valid JSON)",
        config_refused(std::string("\0\xff\xfe", 3), errc::invalid_config, "not valid JSON"));
    add("C04", "config", "`[\"memory://\"]` (not an object)", on_none, "`invalid_config`",
        config_refused(R"(["memory://"])", errc::invalid_config, "JSON object"));
    add("C05", "config", "`{\"a\": \"memory://\"}` (no `default`)", on_none,
        "`invalid_config` naming `default`",
        config_refused(R"({"a": "memory://"})", errc::invalid_config, "'default'"));
    add("C06", "config", "`{\"default\": 5}`", on_none, "`invalid_config` naming the alias",
        config_refused(R"({"default": 5})", errc::invalid_config, "'default'"));
    add("C07", "config", "a good entry and one with port 70000", on_none,
        "`invalid_config` naming the bad alias; neither is added",
        config_refused(R"({"default": "memory://", "bad": {"backend": "redis", "port": 70000}})",
                       errc::invalid_config, "'bad'"));
    add("C08", "config", "truncated JSON `{\"default\": \"memory://\"`", on_none,
        "`invalid_config` (not valid JSON, with the position)",
        config_refused(R"({"default": "memory://")", errc::invalid_config, "not valid JSON"));
    add("C09", "config", "`{\"default\": {\"backend\": \"memory\", \"bogus\": 1}}`", on_none,
        "loads; building the cache is `invalid_config` naming `bogus`",
        config_refused_on_use(R"({"default": {"backend": "memory", "bogus": 1}})",
                              errc::invalid_config, "bogus"));
    add("C10", "config", "`{\"default\": {\"backend\": \"nosuch\"}}`", on_none,
        "loads; building the cache is `unknown_backend`",
        config_refused_on_use(R"({"default": {"backend": "nosuch"}})", errc::unknown_backend,
                              "nosuch"));
    add("C11", "config", "`{\"default\": {\"backend\": \"memory\", \"ttl\": -1}}`", on_none,
        "`invalid_config` naming `ttl`",
        config_refused(R"({"default": {"backend": "memory", "ttl": -1}})", errc::invalid_config,
                       "'ttl'"));
    add("C12", "config", "a 200-level nested array as an entry", on_none,
        "`invalid_config` naming the alias",
        config_refused("{\"default\": " + std::string(200, '[') + std::string(200, ']') + "}",
                       errc::invalid_config, "'default'"));

    // ---- the command line ----
    add("L01", "cli", "`asiocache redis://127.0.0.1:0 get k`", on_none,
        "exit 2, stderr names the port, nothing on stdout", cli_case([](env&) {
#ifdef ASIOCACHE_CLI_BIN
            auto r = cli({"redis://127.0.0.1:0", "get", "k"});
            EXPECT_EQ(r.exit_code, 2) << r.err;
            EXPECT_TRUE(contains(r.err, "port")) << r.err;
            EXPECT_TRUE(r.out.empty());
#endif
        }));
    add("L02", "cli", "`asiocache <url> --ttl -5s set k v`", on_none, "exit 2, nothing stored",
        cli_case([](env&) {
#ifdef ASIOCACHE_CLI_BIN
            auto r = cli({"memory://", "--ttl", "-5s", "set", "k", "v"});
            EXPECT_EQ(r.exit_code, 2) << r.err;
#endif
        }));
    add("L03", "cli", "`ASIOCACHE_CONFIG=/nonexistent.json asiocache default get k`", on_none,
        "exit 2, stderr names the file", cli_case([](env&) {
#ifdef ASIOCACHE_CLI_BIN
            auto r = cli({"default", "get", "k"}, {},
                         {"ASIOCACHE_URL", "ASIOCACHE_CONFIG=/nonexistent.json"});
            EXPECT_EQ(r.exit_code, 2) << r.err;
            EXPECT_TRUE(contains(r.err, "/nonexistent.json")) << r.err;
#endif
        }));
    add("L04", "cli", "`get` of a control-character key on memcached", on_memcached,
        "exit 2 (`invalid_key`), stderr explains the key rule", cli_case([](env& e) {
#ifdef ASIOCACHE_CLI_BIN
            auto r = cli({e.url(""), "get", "bad\x01key"});
            EXPECT_EQ(r.exit_code, 2) << r.err;
            EXPECT_TRUE(contains(r.err, "250 bytes")) << r.err;
#else
            (void)e;
#endif
        }));
    add("L05", "cli", "`incr` on a stored non-number", on_redis | on_memcached,
        "exit 3, stderr says incr needs an integer; value unchanged", cli_case([](env& e) {
#ifdef ASIOCACHE_CLI_BIN
            auto url = e.url("namespace=bi");
            auto set = cli({url, "set", "word", "abc"});
            ASSERT_EQ(set.exit_code, 0) << set.err;
            auto r = cli({url, "incr", "word"});
            EXPECT_EQ(r.exit_code, 3) << r.err;
            EXPECT_TRUE(contains(r.err, "integer")) << r.err;
            auto get = cli({url, "get", "word"});
            EXPECT_EQ(get.out, "abc");
#else
            (void)e;
#endif
        }));
    add("L06", "cli", "`--serializer json get` of a corrupt payload", on_redis | on_memcached,
        "exit 3 (`serialization_failed`), stderr names the key", cli_case([](env& e) {
#ifdef ASIOCACHE_CLI_BIN
            e.write_raw(e.cache->build_key("payload"), "not json{");
            auto r = cli({e.url("namespace=bi"), "--serializer", "json", "get", "payload"});
            EXPECT_EQ(r.exit_code, 3) << r.err;
            EXPECT_TRUE(contains(r.err, "payload")) << r.err;
#else
            (void)e;
#endif
        }));
    add("L07", "cli", "`set` of a 2 MiB value from standard input on memcached", on_memcached,
        "exit 3 (`value_too_large`); previous value kept", cli_case([](env& e) {
#ifdef ASIOCACHE_CLI_BIN
            auto url = e.url("namespace=bi");
            ASSERT_EQ(cli({url, "set", "big", "previous"}).exit_code, 0);
            auto r = cli({url, "set", "big", "-"}, std::string(2 << 20, 'v'));
            EXPECT_EQ(r.exit_code, 3) << r.err;
            EXPECT_EQ(cli({url, "get", "big"}).out, "previous");
#else
            (void)e;
#endif
        }));
    add("L08", "cli", "Unicode key and value `ключ` = `✓😀`", on_redis | on_memcached,
        "exit 0; read back byte for byte", cli_case([](env& e) {
#ifdef ASIOCACHE_CLI_BIN
            auto url = e.url("namespace=bi");
            ASSERT_EQ(cli({url, "set", "ключ", "✓😀"}).exit_code, 0);
            auto r = cli({url, "get", "ключ"});
            EXPECT_EQ(r.exit_code, 0) << r.err;
            EXPECT_EQ(r.out, "✓😀");
#else
            (void)e;
#endif
        }));
    return table;
}

auto escape_cell(std::string const& s) -> std::string {
    std::string out;
    for (char c : s) {
        out += c == '|' ? std::string("\\|") : std::string(1, c);
    }
    return out;
}

auto backends_text(unsigned mask) -> std::string {
    if (mask == on_none) {
        return "none";
    }
    std::string out;
    for (auto [bit, name] : {std::pair{on_memory, "memory"}, {on_redis, "redis"},
                             {on_memcached, "memcached"}}) {
        if ((mask & bit) != 0) {
            out += out.empty() ? "" : ", ";
            out += name;
        }
    }
    return out;
}

}  // namespace

auto all_cases() -> std::vector<bad_case> const& {
    static auto const cases = build_cases();
    return cases;
}

auto render_doc() -> std::string {
    std::string out =
        "<!-- Generated from tests/badinput/bad_input_cases.cpp: run bad_input_test with "
        "ASIOCACHE_UPDATE_DOCS=1 to refresh. -->\n"
        "# Bad input: what each hostile input gets\n\n"
        "Every row is a test (`ctest -L badinput`), run on each backend listed against a real\n"
        "redis-server or memcached started by the test. Each asserts the specific error code or\n"
        "the exact outcome, and that a neighbouring key stored before the case still holds its\n"
        "value afterwards. Error codes are `asiocache::errc` values, thrown as\n"
        "`boost::system::system_error`; the cache's namespace is `bi` and its serializer JSON\n"
        "unless the row says otherwise. Payloads are written raw (a plain SET / set on its own\n"
        "socket) and read back with `get<T>`. Command-line rows run the `asiocache` tool (exit\n"
        "codes: 0 done, 1 miss, 2 usage, 3 backend).\n\n";
    out += fmt::format("{} cases.\n\n", all_cases().size());
    out += "| id | area | input | backends | expected |\n|---|---|---|---|---|\n";
    for (auto const& c : all_cases()) {
        out += fmt::format("| {} | {} | {} | {} | {} |\n", c.id, c.area, escape_cell(c.input),
                           backends_text(c.backends), escape_cell(c.expected));
    }
    return out;
}

}  // namespace asiocache::test::bad_input
