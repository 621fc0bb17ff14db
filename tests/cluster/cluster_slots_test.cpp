// SPDX-License-Identifier: MIT
// Redis Cluster's key space without a server: key slots (the specification's reference values
// and hash tags), CLUSTER SLOTS replies, redirections, and the redis-cluster:// URL's errors.
#include "asiocache/backends/builtin.hpp"
#include "asiocache/backends/redis_cluster.hpp"
#include "asiocache/errors.hpp"
#include "asiocache/registry.hpp"
#include "cluster_slots.hpp"

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>
#include <boost/system/system_error.hpp>

#include <gtest/gtest.h>

#include <string>

namespace {

namespace cluster = asiocache::backends::cluster;
using asiocache::errc;
using asiocache::raw_reply;
using cluster::redirect;

auto str(std::string s) -> raw_reply {
    raw_reply r;
    r.type = raw_reply::kind::string;
    r.str = std::move(s);
    return r;
}

auto num(std::int64_t n) -> raw_reply {
    raw_reply r;
    r.type = raw_reply::kind::integer;
    r.integer = n;
    return r;
}

auto arr(std::vector<raw_reply> e) -> raw_reply {
    raw_reply r;
    r.type = raw_reply::kind::array;
    r.elements = std::move(e);
    return r;
}

auto node(std::string host, int port) -> raw_reply {
    return arr({str(std::move(host)), num(port), str("0123456789abcdef")});
}

TEST(cluster_slots, key_slots_match_the_specification) {
    // Values CLUSTER KEYSLOT gives (the cluster test cross-checks many more against a server).
    EXPECT_EQ(cluster::key_slot("foo"), 12182);
    EXPECT_EQ(cluster::key_slot("bar"), 5061);
    EXPECT_EQ(cluster::key_slot(""), 0);
    EXPECT_EQ(cluster::key_slot("123456789"), 0x31c3 % 16384);
}

TEST(cluster_slots, a_hash_tag_decides_the_slot) {
    EXPECT_EQ(cluster::key_slot("{user1000}.following"), cluster::key_slot("{user1000}.followers"));
    EXPECT_EQ(cluster::key_slot("{user1000}.following"), cluster::key_slot("user1000"));
    // Only the first '{' and the first '}' after it count.
    EXPECT_EQ(cluster::key_slot("foo{{bar}}zap"), cluster::key_slot("{bar"));
    EXPECT_EQ(cluster::key_slot("foo{bar}{zap}"), cluster::key_slot("bar"));
    // An empty tag, or none closed, hashes the whole key.
    EXPECT_EQ(cluster::key_slot("foo{}{bar}"), cluster::key_slot(std::string("foo{}{bar}")));
    EXPECT_NE(cluster::key_slot("foo{}{bar}"), cluster::key_slot("bar"));
    EXPECT_NE(cluster::key_slot("foo{bar"), cluster::key_slot("bar"));
    // The namespace the facade adds does not move a tagged key.
    EXPECT_EQ(cluster::key_slot("ns:{order42}:lines"), cluster::key_slot("order42"));
}

TEST(cluster_slots, cluster_slots_reply_is_read_with_replicas) {
    auto r = arr({arr({num(0), num(5460), node("127.0.0.1", 7000), node("127.0.0.1", 7003)}),
                  arr({num(5461), num(10922), node("", 7001)}),
                  arr({num(10923), num(16383), node("10.0.0.3", 7002), node("?", 7005)})});
    auto ranges = cluster::parse_cluster_slots(r, "seed.local");
    ASSERT_EQ(ranges.size(), 3U);
    EXPECT_EQ(ranges[0].first, 0);
    EXPECT_EQ(ranges[0].last, 5460);
    EXPECT_EQ(ranges[0].master, "127.0.0.1:7000");
    ASSERT_EQ(ranges[0].replicas.size(), 1U);
    EXPECT_EQ(ranges[0].replicas[0], "127.0.0.1:7003");
    EXPECT_EQ(ranges[1].master, "seed.local:7001");  // an empty host: the node asked
    EXPECT_TRUE(ranges[1].replicas.empty());
    EXPECT_EQ(ranges[2].replicas[0], "seed.local:7005");
}

TEST(cluster_slots, malformed_cluster_slots_replies_are_protocol_errors) {
    auto code_of = [](raw_reply const& r) {
        try {
            cluster::parse_cluster_slots(r, "h");
        } catch (boost::system::system_error const& e) {
            return e.code();
        }
        return boost::system::error_code{};
    };
    auto const protocol = make_error_code(errc::protocol_error);
    EXPECT_EQ(code_of(str("x")), protocol);
    EXPECT_EQ(code_of(arr({arr({num(0), num(10)})})), protocol);
    EXPECT_EQ(code_of(arr({arr({num(10), num(0), node("h", 1)})})), protocol);
    EXPECT_EQ(code_of(arr({arr({num(0), num(16384), node("h", 1)})})), protocol);
    EXPECT_EQ(code_of(arr({arr({num(0), num(1), node("h", 0)})})), protocol);
    EXPECT_EQ(code_of(arr({arr({num(0), num(1), node("h", 70000)})})), protocol);
    EXPECT_EQ(code_of(arr({arr({num(0), num(1), arr({num(1), num(2)})})})), protocol);
}

TEST(cluster_slots, redirections_are_recognised) {
    auto moved = cluster::parse_redirect("MOVED 3999 127.0.0.1:6381");
    ASSERT_TRUE(moved);
    EXPECT_EQ(moved->what, redirect::kind::moved);
    EXPECT_EQ(moved->slot, 3999);
    EXPECT_EQ(moved->address, "127.0.0.1:6381");
    auto ask = cluster::parse_redirect("ASK 12 ::1:7000");
    ASSERT_TRUE(ask);
    EXPECT_EQ(ask->what, redirect::kind::ask);
    EXPECT_EQ(ask->address, "::1:7000");
    auto hostless = cluster::parse_redirect("MOVED 1 :7001");
    ASSERT_TRUE(hostless);
    EXPECT_EQ(hostless->address, ":7001");
    EXPECT_EQ(cluster::parse_redirect("TRYAGAIN Multiple keys request during rehashing of slot")
                  ->what,
              redirect::kind::try_again);
    EXPECT_EQ(cluster::parse_redirect("CLUSTERDOWN The cluster is down")->what,
              redirect::kind::cluster_down);
    EXPECT_FALSE(cluster::parse_redirect("ERR unknown command"));
    EXPECT_FALSE(cluster::parse_redirect("MOVED"));
    EXPECT_FALSE(cluster::parse_redirect("MOVED 16384 h:1"));
    EXPECT_FALSE(cluster::parse_redirect("MOVED x h:1"));
    EXPECT_FALSE(cluster::parse_redirect("MOVED 1 nohost"));
    EXPECT_FALSE(cluster::parse_redirect("MOVED 1 h:0"));
    EXPECT_FALSE(cluster::parse_redirect("MOVEDX 1 h:1"));
    EXPECT_FALSE(cluster::parse_redirect("WRONGTYPE Operation against a key"));
}

TEST(cluster_slots, public_key_slot_is_the_same_function) {
    EXPECT_EQ(asiocache::backends::redis_cluster_key_slot("{a}b"), cluster::key_slot("a"));
}

class cluster_url : public ::testing::Test {
protected:
    auto error_of(std::string const& url) -> std::pair<boost::system::error_code, std::string> {
        asiocache::registry r{io_.get_executor()};
        asiocache::backends::register_builtin(r);
        try {
            auto c = r.make_cache(url);
        } catch (boost::system::system_error const& e) {
            return {e.code(), e.what()};
        }
        return {};
    }
    boost::asio::io_context io_;
};

TEST_F(cluster_url, a_well_formed_url_builds_without_connecting) {
    asiocache::registry r{io_.get_executor()};
    asiocache::backends::register_builtin(r);
    auto c = r.make_cache(
        "redis-cluster://u:secret@127.0.0.1:1,127.0.0.1:2?read_from=replica&max_redirects=3"
        "&refresh_interval=5s&pool_size=2&namespace=app");
    EXPECT_EQ(c.backend()->traits().name, "redis-cluster");
}

TEST_F(cluster_url, a_config_file_entry_names_the_cluster_nodes) {
    asiocache::registry r{io_.get_executor()};
    asiocache::backends::register_builtin(r);
    r.load_config(nlohmann::json::parse(R"({
        "default": "memory://",
        "shared": {"backend": "redis-cluster", "hosts": ["127.0.0.1:7000", "127.0.0.1:7001"],
                   "read_from": "replica", "namespace": "app"}
    })"));
    auto& c = r.get("shared");
    EXPECT_EQ(c.backend()->traits().name, "redis-cluster");
    EXPECT_EQ(c.options().ns, "app");
}

TEST_F(cluster_url, mistakes_are_invalid_config_errors_that_say_what) {
    auto const invalid = make_error_code(errc::invalid_config);
    struct bad {
        std::string url;
        std::string says;
    };
    for (auto const& b : std::vector<bad>{
             {"redis-cluster://", "seed"},
             {"redis-cluster://127.0.0.1:7000/2", "database 0"},
             {"redis-cluster://127.0.0.1:7000?db=1", "database 0"},
             {"redis-cluster://127.0.0.1:7000?read_from=slave", "read_from"},
             {"redis-cluster://127.0.0.1:7000?pool_size=0", "pool_size"},
             {"redis-cluster://127.0.0.1:7000?max_redirects=1000", "max_redirects"},
             {"redis-cluster://127.0.0.1:7000?refresh_interval=0", "refresh_interval"},
             {"redis-cluster://127.0.0.1:7000?colour=red", "colour"},
         }) {
        auto [code, what] = error_of(b.url);
        EXPECT_EQ(code, invalid) << b.url << ": " << what;
        EXPECT_NE(what.find(b.says), std::string::npos) << b.url << ": " << what;
    }
    auto [code, what] = error_of("redis-cluster://u:hunter2@127.0.0.1:7000?colour=red");
    EXPECT_EQ(what.find("hunter2"), std::string::npos) << what;
}

}  // namespace
