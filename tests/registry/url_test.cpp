// SPDX-License-Identifier: MIT
// Cache URLs: every scheme and parameter, percent-encoding, redaction, and the errors for
// malformed input (each must name what is wrong and never show a password). The backend
// parameters of memcached URLs are checked where the cache is made (no connection is opened).
#include "asiocache/url.hpp"

#include "asiocache/backends/builtin.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/system/system_error.hpp>

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "asiocache/serializers.hpp"

namespace {

using namespace std::chrono_literals;
using asiocache::cache_config;
using asiocache::errc;
using asiocache::parse_url;

auto ok(std::string_view url) -> cache_config {
    auto r = parse_url(url);
    EXPECT_TRUE(r.has_value()) << url << ": " << (r ? "" : r.error().message);
    return r ? *r : cache_config{};
}

// Expects `url` to fail with `code`, the message containing every `needle` and never `secret`.
void expect_error(std::string_view url, std::initializer_list<std::string_view> needles,
                  std::string_view secret = {}, errc code = errc::invalid_config) {
    auto r = parse_url(url);
    ASSERT_FALSE(r.has_value()) << url << " parsed";
    EXPECT_EQ(r.error().code, code) << url;
    for (auto n : needles) {
        EXPECT_NE(r.error().message.find(n), std::string::npos)
            << url << ": '" << r.error().message << "' lacks '" << n << "'";
    }
    if (!secret.empty()) {
        EXPECT_EQ(r.error().message.find(secret), std::string::npos)
            << url << ": message shows the password: " << r.error().message;
    }
}

// ---- schemes ----

TEST(url_test, the_longest_timeout_and_ttl_a_url_accepts_do_not_wrap_around) {
    // parse_duration accepts up to INT64_MAX milliseconds. A deadline or TTL that far out used
    // to overflow steady_clock's nanoseconds: every operation with that timeout failed at once
    // with errc::timeout, and expiry(hours::max()) was undefined behaviour.
    auto r = parse_url("memory://?timeout=9223372036854775807ms&ttl=9223372036854775807ms");
    ASSERT_TRUE(r.has_value()) << r.error().message;
    auto d = asiocache::deadline::after(r->options.timeout);
    EXPECT_FALSE(d.expired());
    EXPECT_TRUE(d.is_never());
    EXPECT_FALSE(r->options.ttl.is_never());
    EXPECT_FALSE(asiocache::deadline::after(std::chrono::hours(24 * 365 * 300)).expired());
    asiocache::expiry huge(std::chrono::hours::max());
    EXPECT_EQ(huge.duration(), std::chrono::milliseconds::max());
    EXPECT_FALSE(huge.is_negative());
    asiocache::expiry very_negative(std::chrono::hours::min());
    EXPECT_TRUE(very_negative.is_negative());
}

TEST(url_test, memory_has_no_host_and_keeps_backend_params) {
    auto c = ok("memory://?max_entries=100000&max_bytes=64m");
    EXPECT_EQ(c.backend.scheme, "memory");
    EXPECT_TRUE(c.backend.endpoints.empty());
    EXPECT_EQ(c.backend.params.at("max_entries"), "100000");
    EXPECT_EQ(c.backend.params.at("max_bytes"), "64m");
    EXPECT_TRUE(ok("memory://").backend.params.empty());
}

TEST(url_test, memory_rejects_host_and_path) {
    expect_error("memory://localhost", {"memory://", "max_entries"});
    expect_error("memory:///x", {"memory://"});
}

TEST(url_test, scheme_is_case_insensitive) {
    EXPECT_EQ(ok("MEMORY://").backend.scheme, "memory");
    EXPECT_EQ(ok("Redis://h").backend.scheme, "redis");
}

TEST(url_test, redis_full_form) {
    auto c = ok("redis://app:s3cret@cache.local:6380/2?pool=4");
    auto const& b = c.backend;
    EXPECT_EQ(b.scheme, "redis");
    EXPECT_EQ(b.username, "app");
    EXPECT_EQ(b.password, "s3cret");
    ASSERT_EQ(b.endpoints.size(), 1U);
    EXPECT_EQ(b.endpoints[0].host, "cache.local");
    EXPECT_EQ(b.endpoints[0].port, 6380);
    EXPECT_EQ(b.db, 2);
    EXPECT_EQ(b.params.at("pool"), "4");
}

TEST(url_test, redis_defaults_to_localhost_and_backend_port) {
    for (auto url : {"redis://", "redis:///", "redis://127.0.0.1"}) {
        auto c = ok(url);
        ASSERT_EQ(c.backend.endpoints.size(), 1U) << url;
        EXPECT_EQ(c.backend.endpoints[0].host, "127.0.0.1");
        EXPECT_EQ(c.backend.endpoints[0].port, 0) << url;  // the backend's default
        EXPECT_FALSE(c.backend.db.has_value()) << url;
        EXPECT_FALSE(c.backend.password.has_value()) << url;
    }
}

TEST(url_test, redis_password_only_and_acl_user) {
    auto c = ok("redis://:pw@h");
    EXPECT_FALSE(c.backend.username.has_value());
    EXPECT_EQ(c.backend.password, "pw");
    auto d = ok("redis://alice@h");
    EXPECT_EQ(d.backend.username, "alice");
    EXPECT_FALSE(d.backend.password.has_value());
}

TEST(url_test, percent_encoded_credentials_decode) {
    auto c = ok("redis://us%40er:p%40ss%3Aw%2Frd%3F%23@h:1");
    EXPECT_EQ(c.backend.username, "us@er");
    EXPECT_EQ(c.backend.password, "p@ss:w/rd?#");
    EXPECT_EQ(c.backend.endpoints.at(0).host, "h");
}

TEST(url_test, ipv6_host) {
    auto c = ok("redis://[::1]:7000/1");
    EXPECT_EQ(c.backend.endpoints.at(0).host, "::1");
    EXPECT_EQ(c.backend.endpoints.at(0).port, 7000);
    EXPECT_EQ(c.backend.db, 1);
}

TEST(url_test, redis_db_in_query_or_path_not_both) {
    EXPECT_EQ(ok("redis://h?db=3").backend.db, 3);
    EXPECT_FALSE(ok("redis://h?db=3").backend.params.contains("db"));
    expect_error("redis://h/2?db=3", {"'db'", "/2"});
    expect_error("redis://h?db=x", {"'db'", "'x'"});
}

TEST(url_test, redis_bad_database_path) {
    expect_error("redis://h/abc", {"'abc'", "database"});
    expect_error("redis://h/1/2", {"/1/2", "database"});
    expect_error("redis://h/-1", {"'-1'"});
}

TEST(url_test, bad_ports) {
    expect_error("redis://h:99999", {"port '99999'", "65535"});
    expect_error("redis://h:0", {"port '0'"});
    expect_error("redis://h:abc", {"port is a number"});
    expect_error("memcached://h1,h2:x", {"'h2:x'", "65535"});
}

TEST(url_test, redis_unix_socket) {
    auto c = ok("redis+unix:///run/redis/redis.sock?db=4&namespace=app");
    EXPECT_EQ(c.backend.scheme, "redis+unix");
    EXPECT_EQ(c.backend.path, "/run/redis/redis.sock");
    EXPECT_EQ(c.backend.db, 4);
    EXPECT_TRUE(c.backend.endpoints.empty());
    EXPECT_TRUE(c.backend.params.empty());
    EXPECT_EQ(c.options.ns, "app");
    EXPECT_EQ(ok("redis+unix:///tmp/my%20redis.sock").backend.path, "/tmp/my redis.sock");
    auto p = ok("redis+unix://:pw@/tmp/r.sock");
    EXPECT_EQ(p.backend.password, "pw");
    EXPECT_EQ(p.backend.path, "/tmp/r.sock");
}

TEST(url_test, redis_unix_needs_a_path_and_no_host) {
    expect_error("redis+unix://", {"socket path"});
    expect_error("redis+unix://host/tmp/r.sock", {"no host", "'host'"});
    expect_error("redis+unix:///tmp/r.sock?db=one", {"'db'", "'one'"});
}

TEST(url_test, memcached_host_list) {
    auto c = ok("memcached://h1:11211,h2:11212,[::1],h4?connections=2");
    auto const& e = c.backend.endpoints;
    ASSERT_EQ(e.size(), 4U);
    EXPECT_EQ(e[0].host, "h1");
    EXPECT_EQ(e[0].port, 11211);
    EXPECT_EQ(e[1].host, "h2");
    EXPECT_EQ(e[1].port, 11212);
    EXPECT_EQ(e[2].host, "::1");
    EXPECT_EQ(e[2].port, 0);
    EXPECT_EQ(e[3].host, "h4");
    EXPECT_EQ(c.backend.params.at("connections"), "2");
}

// The message of the error make_cache throws for `url`, or "" if it made the cache.
auto make_cache_error(std::string const& url, errc want = errc::invalid_config) -> std::string {
    boost::asio::io_context io;
    try {
        (void)asiocache::make_cache(url, io.get_executor());
    } catch (boost::system::system_error const& e) {
        EXPECT_EQ(e.code(), want) << url << ": " << e.what();
        return e.what();
    }
    return {};
}

TEST(url_test, memcached_client_parameters_make_a_cache) {
    EXPECT_EQ(make_cache_error("memcached://127.0.0.1:11211,127.0.0.1:11212?binary=false&"
                               "connections=2&max_in_flight=64&connect_timeout=250ms&"
                               "reconnect_min=10ms&reconnect_max=2s&health_check=1s&"
                               "namespace_generations=true&item_size_max=2m&timeout=1s"),
              "");
    EXPECT_EQ(make_cache_error("memcached://127.0.0.1?pool_size=3&retry_timeout=500ms"), "");
}

TEST(url_test, memcached_parameters_of_the_former_client_are_refused_naming_the_replacement) {
    // binary=true, threads, max_queue, io_timeout and worker_spin_us configured the
    // libmemcached worker pool that the meta-protocol client replaced.
    for (auto const& [url, needles] :
         std::vector<std::pair<std::string, std::vector<std::string>>>{
             {"memcached://127.0.0.1?binary=true", {"binary", "meta text protocol"}},
             {"memcached://127.0.0.1?threads=4", {"'threads'", "connections"}},
             {"memcached://127.0.0.1?max_queue=100", {"'max_queue'", "max_in_flight"}},
             {"memcached://127.0.0.1?io_timeout=1s", {"'io_timeout'", "cache's timeout"}},
             {"memcached://127.0.0.1?worker_spin_us=20", {"'worker_spin_us'"}}}) {
        auto what = make_cache_error(url);
        ASSERT_FALSE(what.empty()) << url << " made a cache";
        for (auto const& n : needles) {
            EXPECT_NE(what.find(n), std::string::npos) << url << ": '" << what << "' lacks '"
                                                       << n << "'";
        }
    }
    // Conflicting aliases, malformed and unknown parameters.
    EXPECT_NE(make_cache_error("memcached://127.0.0.1?connections=2&pool_size=3").find("pool_size"),
              std::string::npos);
    EXPECT_NE(make_cache_error("memcached://127.0.0.1?binary=maybe").find("binary"),
              std::string::npos);
    EXPECT_NE(make_cache_error("memcached://127.0.0.1?connections=0").find("connections"),
              std::string::npos);
    EXPECT_NE(make_cache_error("memcached://127.0.0.1?bogus=1").find("bogus"), std::string::npos);
}

TEST(url_test, memcached_single_host_default_and_credentials) {
    auto c = ok("memcached://");
    ASSERT_EQ(c.backend.endpoints.size(), 1U);
    EXPECT_EQ(c.backend.endpoints[0].host, "127.0.0.1");
    auto d = ok("memcached://user:p%40ss@h1,h2:2");
    EXPECT_EQ(d.backend.username, "user");
    EXPECT_EQ(d.backend.password, "p@ss");
    ASSERT_EQ(d.backend.endpoints.size(), 2U);
    EXPECT_EQ(d.backend.endpoints[1].port, 2);
}

TEST(url_test, memcached_bad_host_lists) {
    expect_error("memcached://h1,,h2", {"empty host"});
    expect_error("memcached://,h2", {"empty host"});
    expect_error("memcached://h1,u:p@h2", {"credentials"}, "u:p");
    expect_error("memcached://h1/x", {"no path"});
}

TEST(url_test, host_list_only_for_memcached_and_user_schemes) {
    expect_error("redis://h1,h2", {"takes one", "memcached"});
    expect_error("memory://h1,h2", {"takes one"});
    EXPECT_EQ(ok("custom://h1,h2").backend.endpoints.size(), 2U);
}

TEST(url_test, user_scheme_keeps_everything) {
    auto c = ok("custom://u:p@h:9/some/path?k=v");
    EXPECT_EQ(c.backend.scheme, "custom");
    EXPECT_EQ(c.backend.endpoints.at(0).host, "h");
    EXPECT_EQ(c.backend.endpoints.at(0).port, 9);
    EXPECT_EQ(c.backend.path, "/some/path");
    EXPECT_EQ(c.backend.params.at("k"), "v");
}

// ---- the facade's parameters ----

TEST(url_test, cache_params_are_taken_out) {
    auto c = ok("redis://h?namespace=app&ttl=1m&timeout=250ms&serializer=string&pool=2");
    EXPECT_EQ(c.options.ns, "app");
    EXPECT_EQ(c.options.ttl.duration(), 60s);
    EXPECT_EQ(c.options.timeout, 250ms);
    ASSERT_TRUE(c.options.serializer);
    EXPECT_EQ(c.options.serializer->name(), "string");
    EXPECT_EQ(c.backend.params.size(), 1U);  // only pool is left for the backend
}

TEST(url_test, defaults_when_no_cache_params) {
    auto c = ok("redis://h");
    EXPECT_EQ(c.options.ns, "");
    EXPECT_TRUE(c.options.ttl.is_never());
    EXPECT_EQ(c.options.timeout, 5s);
    EXPECT_FALSE(c.options.serializer);  // the facade's default: json
}

TEST(url_test, durations_take_units) {
    EXPECT_EQ(ok("memory://?ttl=250ms").options.ttl.duration(), 250ms);
    EXPECT_EQ(ok("memory://?ttl=5s").options.ttl.duration(), 5s);
    EXPECT_EQ(ok("memory://?ttl=2h").options.ttl.duration(), 2h);
    EXPECT_EQ(ok("memory://?ttl=30").options.ttl.duration(), 30s);  // bare number: seconds
    EXPECT_TRUE(ok("memory://?ttl=0").options.ttl.is_never());
    EXPECT_EQ(ok("memory://?timeout=0").options.timeout, 0ms);  // disables
}

TEST(url_test, bad_cache_params_name_the_parameter) {
    expect_error("memory://?ttl=5x", {"'ttl'", "'5x'"});
    expect_error("memory://?timeout=-1s", {"'timeout'"});
    expect_error("memory://?ttl=", {"'ttl'"});
    expect_error("memory://?serializer=pickle", {"'serializer'", "'pickle'", "json"});
}

TEST(url_test, every_builtin_serializer_by_name) {
    for (auto name : {"bytes", "string", "json", "msgpack", "cbor"}) {
        auto c = ok(std::string("memory://?serializer=") + name);
        ASSERT_TRUE(c.options.serializer) << name;
        EXPECT_EQ(c.options.serializer->name(), name);
    }
}

TEST(url_test, query_values_are_percent_decoded) {
    EXPECT_EQ(ok("memory://?namespace=a%2Bb%26c").options.ns, "a+b&c");
    EXPECT_EQ(ok("memory://?namespace=a+b").options.ns, "a b");  // '+' is a space
    EXPECT_EQ(ok("memory://?namespace=caf%C3%A9").options.ns, "caf\xC3\xA9");
}

TEST(url_test, malformed_query_parameters) {
    expect_error("memory://?binary", {"'binary'", "no value"});
    expect_error("memory://?a=1&a=2", {"'a'", "twice"});
    expect_error("memory://?=1", {"empty name"});
}

TEST(url_test, not_a_url) {
    expect_error("localhost:6379", {"scheme://", "redis://"});
    expect_error("", {"scheme://"});
    expect_error("redis://h#frag", {"fragment"});
    expect_error("redis://h^/", {"malformed URL"});
}

// ---- redaction ----

TEST(url_test, unencoded_specials_in_passwords_never_leak) {
    expect_error("redis://u:p@ss@h:6379", {"percent-encoded", "***"}, "p@ss");
    expect_error("redis://u:pa/ss@h:6379", {"***"}, "pa/ss");
    expect_error("redis://u:123/45@h", {"***"}, "45");
    expect_error("redis://u:pa#zz9@h", {"***"}, "zz9");
    expect_error("redis://u:12?qq7@h", {"***"}, "qq7");
    expect_error("redis://u:hunter2@h:99999", {"99999"}, "hunter2");
    expect_error("redis://u:hunter2@h/x", {"'x'"}, "hunter2");
}

TEST(url_test, redacted_form_hides_password_and_reads_back) {
    auto c =
        ok("redis://app:s3cret@h:6380/2?pool=4&namespace=n&ttl=90s&timeout=1500ms&"
           "serializer=string");
    auto text = c.redacted();
    EXPECT_EQ(text.find("s3cret"), std::string::npos) << text;
    EXPECT_NE(text.find("app:***@h:6380/2"), std::string::npos) << text;
    for (auto part : {"pool=4", "namespace=n", "ttl=90s", "timeout=1500ms", "serializer=string"}) {
        EXPECT_NE(text.find(part), std::string::npos) << text << " lacks " << part;
    }
    // Without a password, the printed form parses back to the same settings.
    auto again = ok("redis://h:6380/2?pool=4&namespace=n&ttl=90s");
    auto round = ok(again.redacted());
    EXPECT_EQ(round.redacted(), again.redacted());
    EXPECT_EQ(round.backend.db, 2);
    EXPECT_EQ(round.options.ttl.duration(), 90s);
}

TEST(url_test, redacted_unix_socket_keeps_db_in_query) {
    auto c = ok("redis+unix://:pw@/tmp/r.sock?db=3");
    EXPECT_EQ(c.redacted(), "redis+unix://:***@/tmp/r.sock?db=3");
    auto back = ok("redis+unix:///tmp/r.sock?db=3");
    EXPECT_EQ(ok(back.redacted()).backend.path, "/tmp/r.sock");
    EXPECT_EQ(ok(back.redacted()).backend.db, 3);
}

TEST(url_test, redact_url_text_hides_userinfo_password) {
    using asiocache::redact_url_text;
    EXPECT_EQ(redact_url_text("redis://u:pw@h"), "redis://u:***@h");
    EXPECT_EQ(redact_url_text("redis://:p@ss@h/0"), "redis://:***@h/0");
    EXPECT_EQ(redact_url_text("redis://h:1/0"), "redis://h:1/0");
    EXPECT_EQ(redact_url_text("no url"), "no url");
}

TEST(url_test, value_throws_system_error_with_the_message) {
    try {
        (void)parse_url("memory://?ttl=soon").value();
        FAIL() << "no exception";
    } catch (boost::system::system_error const& e) {
        EXPECT_EQ(e.code(), errc::invalid_config);
        EXPECT_NE(std::string(e.what()).find("'ttl'"), std::string::npos) << e.what();
        EXPECT_EQ(asiocache::error_detail(e),
                  "parameter 'ttl': 'soon' is not a duration such as "
                  "250ms, 5s, 1m or 2h");
    }
}

}  // namespace
