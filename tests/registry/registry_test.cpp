// SPDX-License-Identifier: MIT
// The registry: factories per scheme, aliases with one shared instance, fresh instances with
// overrides, JSON config files and the environment. A test factory under the "test" scheme
// stands in for a backend; real backends are tested against real servers elsewhere.
#include "asiocache/registry.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "asiocache/backends/builtin.hpp"
#include "asiocache/serializers.hpp"
#include "run_coro.hpp"
#include "scripted_backend.hpp"

namespace {

using namespace std::chrono_literals;
using asiocache::cache;
using asiocache::cache_overrides;
using asiocache::errc;
using asiocache::registry;
using asiocache::test::run;

// Records what the factory saw; takes "size" and "flag" and rejects everything else, as a real
// backend factory does.
struct factory_log {
    std::mutex mutex;
    std::vector<asiocache::backend_config> seen;
    std::atomic<int> calls{0};
};

auto test_factory(std::shared_ptr<factory_log> log) -> asiocache::backend_factory {
    return [log](boost::asio::any_io_executor const&,
                 asiocache::backend_config cfg) -> std::shared_ptr<asiocache::backend> {
        ++log->calls;
        {
            std::lock_guard lock(log->mutex);
            log->seen.push_back(cfg);
        }
        (void)cfg.take_size("size");
        (void)cfg.take_bool("flag");
        cfg.reject_unknown();
        return std::make_shared<asiocache::test::scripted_backend>();
    };
}

// Sets an environment variable for one test and restores it afterwards.
class scoped_env {
public:
    scoped_env(char const* name, std::string const& value) : name_(name) {
        if (char const* old = std::getenv(name)) {
            old_ = old;
        }
        ::setenv(name, value.c_str(), 1);
    }
    scoped_env(scoped_env const&) = delete;
    auto operator=(scoped_env const&) -> scoped_env& = delete;
    ~scoped_env() {
        if (old_) {
            ::setenv(name_, old_->c_str(), 1);
        } else {
            ::unsetenv(name_);
        }
    }

private:
    char const* name_;
    std::optional<std::string> old_;
};

// A file in the test's temporary directory, removed afterwards.
class temp_file {
public:
    explicit temp_file(std::string const& text)
        : path_(std::filesystem::temp_directory_path() /
                ("asiocache-registry-" + std::to_string(::getpid()) + "-" +
                 std::to_string(counter_++) + ".json")) {
        std::ofstream(path_) << text;
    }
    temp_file(temp_file const&) = delete;
    auto operator=(temp_file const&) -> temp_file& = delete;
    ~temp_file() { std::filesystem::remove(path_); }
    [[nodiscard]] auto path() const -> std::filesystem::path const& { return path_; }

private:
    static inline int counter_ = 0;
    std::filesystem::path path_;
};

// Runs `f`, expecting a system_error with `code` whose message has every `needle`.
template <class F>
void expect_throws(F&& f, errc code, std::initializer_list<std::string_view> needles,
                   std::string_view secret = {}) {
    try {
        f();
        ADD_FAILURE() << "no exception";
    } catch (boost::system::system_error const& e) {
        EXPECT_EQ(e.code(), code) << e.what();
        std::string what = e.what();
        for (auto n : needles) {
            EXPECT_NE(what.find(n), std::string::npos) << "'" << what << "' lacks '" << n << "'";
        }
        if (!secret.empty()) {
            EXPECT_EQ(what.find(secret), std::string::npos) << "message shows a secret: " << what;
        }
    }
}

class registry_test : public ::testing::Test {
protected:
    registry_test() { caches_.register_backend("test", test_factory(log_)); }

    boost::asio::io_context io_;
    std::shared_ptr<factory_log> log_ = std::make_shared<factory_log>();
    registry caches_{io_.get_executor()};
};

// ---- factories ----

TEST_F(registry_test, make_cache_builds_a_working_cache_from_a_url) {
    auto c = caches_.make_cache("test://h:1?namespace=app&size=2k&serializer=string");
    EXPECT_EQ(log_->calls, 1);
    EXPECT_EQ(log_->seen.at(0).params.at("size"), "2k");
    EXPECT_FALSE(log_->seen.at(0).params.contains("namespace"));  // the facade took it
    EXPECT_EQ(c.options().ns, "app");
    EXPECT_EQ(c.value_serializer().name(), "string");
    run(io_, c.set("k", std::string("v")));
    EXPECT_EQ(run(io_, c.get<std::string>("k")), "v");
    EXPECT_EQ(c.build_key("k"), "app:k");
}

TEST_F(registry_test, unknown_backend_parameter_is_named) {
    expect_throws([&] { (void)caches_.make_cache("test://h?sizee=1&flag=true"); },
                  errc::invalid_config, {"sizee"});
    expect_throws([&] { (void)caches_.make_cache("test://h?flag=maybe"); }, errc::invalid_config,
                  {"'flag'", "'maybe'"});
}

TEST_F(registry_test, unknown_scheme_lists_registered_ones) {
    expect_throws([&] { (void)caches_.make_cache("nosuch://h"); }, errc::unknown_backend,
                  {"'nosuch'", "test", "register_backend"});
}

TEST_F(registry_test, builtin_scheme_without_register_builtin_says_so) {
    expect_throws([&] { (void)caches_.make_cache("redis://h"); }, errc::unknown_backend,
                  {"register_builtin"});
}

TEST_F(registry_test, schemes_are_listed_and_replaceable) {
    EXPECT_TRUE(caches_.has_backend("test"));
    EXPECT_FALSE(caches_.has_backend("other"));
    caches_.register_backend("other", test_factory(log_));
    EXPECT_EQ(caches_.schemes(), (std::vector<std::string>{"other", "test"}));
}

TEST_F(registry_test, make_backend_passes_the_config_through) {
    auto cfg = asiocache::parse_url("test://u:pw@h:7/p?size=1").value();
    auto b = caches_.make_backend(cfg.backend);
    ASSERT_TRUE(b);
    auto const& seen = log_->seen.at(0);
    EXPECT_EQ(seen.username, "u");
    EXPECT_EQ(seen.password, "pw");
    EXPECT_EQ(seen.endpoints.at(0).port, 7);
    EXPECT_EQ(seen.path, "/p");
}

TEST_F(registry_test, factory_errors_name_the_alias_and_redact_the_password) {
    caches_.add("main", "test://u:hunter2@h?bogus=1");
    expect_throws([&] { (void)caches_.get("main"); }, errc::invalid_config,
                  {"cache 'main'", "bogus", "u:***@h"}, "hunter2");
}

TEST_F(registry_test, builtin_registration_reports_missing_backends_with_the_fix) {
    asiocache::backends::register_builtin(caches_);
    auto built = asiocache::backends::builtin_schemes();
    auto has = [&](std::string_view s) {
        return std::find(built.begin(), built.end(), s) != built.end();
    };
    for (auto s : {"memory", "redis", "redis+unix", "memcached"}) {
        EXPECT_TRUE(caches_.has_backend(s)) << s;
    }
    if (!has("redis")) {
        expect_throws([&] { (void)caches_.make_cache("redis://h"); }, errc::unknown_backend,
                      {"redis", "-DASIOCACHE_WITH_REDIS=ON"});
        expect_throws([&] { (void)caches_.make_cache("redis+unix:///s"); }, errc::unknown_backend,
                      {"-DASIOCACHE_WITH_REDIS=ON"});
    }
    if (!has("memcached")) {
        expect_throws([&] { (void)caches_.make_cache("memcached://h"); }, errc::unknown_backend,
                      {"-DASIOCACHE_WITH_MEMCACHED=ON"});
    }
    if (has("memory")) {
        auto c = asiocache::make_cache("memory://?namespace=m", io_.get_executor());
        run(io_, c.set("k", 7));
        EXPECT_EQ(run(io_, c.get<int>("k")), 7);
        expect_throws([&] { (void)caches_.make_cache("memory://?bogus=1"); }, errc::invalid_config,
                      {"bogus"});
    } else {
        expect_throws([&] { (void)asiocache::make_cache("memory://", io_.get_executor()); },
                      errc::unknown_backend, {"memory"});
    }
}

// ---- aliases ----

TEST_F(registry_test, get_returns_one_shared_instance_built_lazily) {
    caches_.add("default", "test://h?namespace=d");
    EXPECT_EQ(log_->calls, 0);  // nothing is built until used
    auto& a = caches_.get("default");
    auto& b = caches_.get("default");
    EXPECT_EQ(&a, &b);
    EXPECT_EQ(log_->calls, 1);
    EXPECT_EQ(caches_.get_shared("default").get(), &a);
    run(io_, a.set("k", 1));
    EXPECT_EQ(run(io_, b.get<int>("k")), 1);
}

TEST_F(registry_test, create_returns_a_fresh_instance_each_time) {
    caches_.add("default", "test://h?namespace=d");
    auto& shared = caches_.get("default");
    auto c1 = caches_.create("default");
    auto c2 = caches_.create("default");
    EXPECT_EQ(log_->calls, 3);
    EXPECT_NE(c1.backend(), shared.backend());
    EXPECT_NE(c1.backend(), c2.backend());
    run(io_, c1.set("k", 1));
    EXPECT_FALSE(run(io_, shared.get<int>("k")).has_value());
    EXPECT_EQ(c1.options().ns, "d");
}

TEST_F(registry_test, create_applies_overrides) {
    caches_.add("default", "test://h?namespace=d&ttl=10s&size=1");
    cache_overrides o;
    o.ns = "typed";
    o.timeout = 100ms;
    o.serializer = asiocache::serializers::bytes();
    o.params = {{"size", "9"}, {"ttl", "1m"}};
    auto c = caches_.create("default", o);
    EXPECT_EQ(c.options().ns, "typed");  // the typed field wins
    EXPECT_EQ(c.options().ttl.duration(), 1min);
    EXPECT_EQ(c.options().timeout, 100ms);
    EXPECT_EQ(c.value_serializer().name(), "bytes");
    EXPECT_EQ(log_->seen.back().params.at("size"), "9");
    // The alias itself is unchanged.
    EXPECT_EQ(caches_.config("default").options.ns, "d");
    EXPECT_EQ(caches_.config("default").backend.params.at("size"), "1");
}

TEST_F(registry_test, create_overrides_are_checked) {
    caches_.add("default", "test://h");
    expect_throws(
        [&] {
            (void)caches_.create("default", {.params = {{"ttl", "never"}}});
        },
        errc::invalid_config, {"overrides", "'ttl'"});
    expect_throws(
        [&] {
            (void)caches_.create("default", {.params = {{"typo", "1"}}});
        },
        errc::invalid_config, {"typo"});
    expect_throws(
        [&] {
            (void)caches_.create("default", {.params = {{"db", "x"}}});
        },
        errc::invalid_config, {"'db'"});
    auto c = caches_.create("default", {.params = {{"db", "5"}}});
    EXPECT_EQ(log_->seen.back().db, 5);
}

TEST_F(registry_test, unknown_alias_names_it_and_lists_the_others) {
    caches_.add("replies", "test://h");
    expect_throws([&] { (void)caches_.get("nope"); }, errc::unknown_alias, {"'nope'", "replies"});
    expect_throws([&] { (void)caches_.create("nope"); }, errc::unknown_alias, {"'nope'"});
    expect_throws([&] { (void)caches_.config("nope"); }, errc::unknown_alias, {"'nope'"});
    expect_throws([&] { (void)caches_.get("default"); }, errc::unknown_alias,
                  {"ASIOCACHE_URL", "ASIOCACHE_CONFIG"});
}

TEST_F(registry_test, add_checks_the_url_at_once_and_names_the_alias) {
    expect_throws([&] { caches_.add("replies", "test://h?ttl=forever"); }, errc::invalid_config,
                  {"cache 'replies'", "'ttl'"});
    EXPECT_FALSE(caches_.contains("replies"));
    expect_throws([&] { caches_.add("", "test://h"); }, errc::invalid_config, {"empty"});
}

TEST_F(registry_test, replacing_an_alias_keeps_old_references_valid) {
    caches_.add("default", "test://h?namespace=old");
    auto& before = caches_.get("default");
    caches_.add("default", "test://h?namespace=new");
    EXPECT_EQ(before.options().ns, "old");  // still alive
    auto& after = caches_.get("default");
    EXPECT_NE(&before, &after);
    EXPECT_EQ(after.options().ns, "new");
}

TEST_F(registry_test, add_takes_a_structured_config_with_user_options) {
    asiocache::cache_config cfg;
    cfg.backend.scheme = "test";
    cfg.options.ns = "s";
    cfg.options.key_builder = [](std::string_view key, std::string_view ns) {
        return std::string(ns) + "/" + std::string(key);
    };
    caches_.add("structured", cfg);
    EXPECT_EQ(caches_.get("structured").build_key("k"), "s/k");
    EXPECT_EQ(caches_.aliases(), std::vector<std::string>{"structured"});
}

TEST_F(registry_test, concurrent_get_builds_one_instance) {
    caches_.add("default", "test://h");
    std::vector<std::thread> threads;
    std::vector<cache*> seen(8);
    for (std::size_t i = 0; i < seen.size(); ++i) {
        threads.emplace_back([&, i] { seen[i] = &caches_.get("default"); });
    }
    for (auto& t : threads) {
        t.join();
    }
    EXPECT_EQ(log_->calls, 1);
    for (auto* p : seen) {
        EXPECT_EQ(p, seen[0]);
    }
}

// ---- config files ----

TEST_F(registry_test, load_config_with_urls_and_structured_entries) {
    caches_.load_config(nlohmann::json::parse(R"({
        "default": "test://h1?namespace=d",
        "replies": {"url": "test://h2:2/0?size=1", "namespace": "r", "ttl": "60s"},
        "sessions": {"backend": "test", "host": "h3", "port": 3, "db": 2, "username": "u",
                     "password": "pw", "ttl": 1.5, "timeout": 2, "serializer": "string",
                     "size": 4, "flag": true, "path": "/x"},
        "pool": {"backend": "test", "hosts": ["a:1", "b", "[::1]:3"]}
    })"));
    EXPECT_EQ(caches_.aliases(),
              (std::vector<std::string>{"default", "pool", "replies", "sessions"}));
    auto r = caches_.config("replies");
    EXPECT_EQ(r.backend.endpoints.at(0).host, "h2");
    EXPECT_EQ(r.options.ns, "r");  // the key overrides the URL
    EXPECT_EQ(r.options.ttl.duration(), 60s);
    auto s = caches_.config("sessions");
    EXPECT_EQ(s.backend.endpoints.at(0).host, "h3");
    EXPECT_EQ(s.backend.endpoints.at(0).port, 3);
    EXPECT_EQ(s.backend.db, 2);
    EXPECT_EQ(s.backend.username, "u");
    EXPECT_EQ(s.backend.password, "pw");
    EXPECT_EQ(s.backend.path, "/x");
    EXPECT_EQ(s.options.ttl.duration(), 1500ms);  // aiocache's float seconds
    EXPECT_EQ(s.options.timeout, 2s);
    EXPECT_EQ(s.options.serializer->name(), "string");
    EXPECT_EQ(s.backend.params.at("size"), "4");
    EXPECT_EQ(s.backend.params.at("flag"), "true");
    auto p = caches_.config("pool");
    ASSERT_EQ(p.backend.endpoints.size(), 3U);
    EXPECT_EQ(p.backend.endpoints[2].host, "::1");
    // Each alias builds and works.
    (void)caches_.get("sessions");
    EXPECT_EQ(caches_.get("replies").build_key("k"), "r:k");
}

TEST_F(registry_test, load_config_requires_default) {
    expect_throws([&] { caches_.load_config(nlohmann::json::parse(R"({"a": "test://h"})")); },
                  errc::invalid_config, {"'default'"});
    expect_throws([&] { caches_.load_config(nlohmann::json::parse(R"(["test://h"])")); },
                  errc::invalid_config, {"JSON object"});
}

TEST_F(registry_test, load_config_errors_name_alias_and_key_and_add_nothing) {
    auto bad = [&](char const* json, std::initializer_list<std::string_view> needles) {
        expect_throws([&] { caches_.load_config(nlohmann::json::parse(json)); },
                      errc::invalid_config, needles);
        EXPECT_TRUE(caches_.aliases().empty()) << json;
    };
    bad(R"({"default": "test://h", "x": {"backend": "test", "ttl": "soon"}})",
        {"cache 'x'", "'ttl'"});
    bad(R"({"default": "test://h", "x": {"backend": "test", "size": [1]}})",
        {"cache 'x'", "'size'"});
    bad(R"({"default": 42})", {"cache 'default'", "URL string"});
    bad(R"({"default": {"namespace": "n"}})", {"\"url\"", "\"backend\""});
    bad(R"({"default": {"url": 1}})", {"'url'"});
    bad(R"({"default": {"url": "test://h", "backend": "test"}})", {"not both"});
    bad(R"({"default": {"backend": "test", "hosts": "a"}})", {"'hosts'"});
    bad(R"({"default": {"backend": "test", "hosts": ["a"], "host": "b"}})", {"'hosts'"});
    bad(R"({"default": {"backend": "test", "port": 70000}})", {"70000"});
    bad(R"({"default": {"backend": "test", "db": "x"}})", {"'db'"});
    bad(R"({"default": {"backend": "test", "ttl": -1.0}})", {"'ttl'"});
    bad(R"({"default": {"backend": "redis", "hosts": ["a", "b"]}})", {"takes one"});
    bad(R"({"default": "test://u:hunter2@h:99999"})", {"99999"});
}

TEST_F(registry_test, load_config_file_reads_json) {
    temp_file f(R"({"default": "test://filehost"})");
    caches_.load_config_file(f.path());
    EXPECT_EQ(caches_.config("default").backend.endpoints.at(0).host, "filehost");
}

TEST_F(registry_test, load_config_file_errors_name_the_file) {
    temp_file syntax(R"({"default": "test://h",})");
    expect_throws([&] { caches_.load_config_file(syntax.path()); }, errc::invalid_config,
                  {syntax.path().string(), "not valid JSON", "line 1"});
    temp_file nodefault(R"({"other": "test://h"})");
    expect_throws([&] { caches_.load_config_file(nodefault.path()); }, errc::invalid_config,
                  {nodefault.path().string(), "'default'"});
    expect_throws([&] { caches_.load_config_file("/nonexistent/asiocache.json"); },
                  errc::invalid_config, {"/nonexistent/asiocache.json", "cannot be read"});
}

// ---- the environment ----

TEST_F(registry_test, environment_url_overrides_the_default_alias) {
    caches_.add("default", "test://codehost");
    scoped_env url("ASIOCACHE_URL", "test://envhost?namespace=e");
    EXPECT_TRUE(caches_.load_environment());
    EXPECT_EQ(caches_.config("default").backend.endpoints.at(0).host, "envhost");
    EXPECT_EQ(caches_.get("default").options().ns, "e");
}

TEST_F(registry_test, environment_config_file_then_url) {
    temp_file f(R"({"default": "test://filehost", "other": "test://otherhost"})");
    scoped_env file("ASIOCACHE_CONFIG", f.path().string());
    {
        EXPECT_TRUE(caches_.load_environment());
        EXPECT_EQ(caches_.config("default").backend.endpoints.at(0).host, "filehost");
        EXPECT_EQ(caches_.config("other").backend.endpoints.at(0).host, "otherhost");
    }
    scoped_env url("ASIOCACHE_URL", "test://envhost");
    EXPECT_TRUE(caches_.load_environment());
    EXPECT_EQ(caches_.config("default").backend.endpoints.at(0).host, "envhost");
    EXPECT_EQ(caches_.config("other").backend.endpoints.at(0).host, "otherhost");
}

TEST_F(registry_test, environment_errors_name_the_variable) {
    {
        scoped_env url("ASIOCACHE_URL", "test://u:hunter2@h?ttl=x");
        expect_throws([&] { caches_.load_environment(); }, errc::invalid_config,
                      {"ASIOCACHE_URL", "'ttl'"}, "hunter2");
    }
    scoped_env file("ASIOCACHE_CONFIG", "/nonexistent/asiocache.json");
    expect_throws([&] { caches_.load_environment(); }, errc::invalid_config,
                  {"ASIOCACHE_CONFIG", "/nonexistent/asiocache.json"});
}

TEST_F(registry_test, empty_environment_changes_nothing) {
    scoped_env url("ASIOCACHE_URL", "");
    scoped_env file("ASIOCACHE_CONFIG", "");
    EXPECT_FALSE(caches_.load_environment());
    EXPECT_TRUE(caches_.aliases().empty());
}

}  // namespace
