// SPDX-License-Identifier: MIT
#include "asiocache/backends/redis_cluster.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <map>
#include <mutex>

#include "asiocache/errors.hpp"
#include "asiocache_net/batch.hpp"
#include "cluster_slots.hpp"
#include "redis_connection.hpp"
#include "redis_ops.hpp"
#include "resp.hpp"

namespace asiocache::backends {
namespace {

namespace asio = boost::asio;
using redis_detail::check;
using redis_detail::connection;
using redis_detail::exec_on;
using redis_detail::exec_result;
using redis_detail::format_command;
using redis_detail::iequals;
using cluster::redirect;

constexpr std::uint16_t no_owner = 0xffff;
constexpr auto first_backoff = std::chrono::milliseconds(10);
constexpr auto last_backoff = std::chrono::milliseconds(160);

auto failed(errc e, std::string text) -> exec_result {
    return {make_error_code(e), redis_detail::resp_protocol::error_result(std::move(text))};
}

/// One node: its address and its connections (`pool_size` of them).
class node {
public:
    node(asio::any_io_executor const& ex, std::shared_ptr<redis_detail::connection_settings> s,
         std::size_t pool, std::string addr)
        : address(std::move(addr)) {
        for (std::size_t i = 0; i < pool; ++i) {
            conns.push_back(std::make_shared<connection>(ex, s));
        }
    }

    auto pick() -> connection& {
        if (conns.size() == 1) {
            return *conns.front();
        }
        return *conns[next.fetch_add(1, std::memory_order_relaxed) % conns.size()];
    }

    std::string const address;
    std::vector<std::shared_ptr<connection>> conns;
    std::atomic<std::size_t> next{0};
};

/// Who serves which slot, as one CLUSTER SLOTS reply said; immutable once published.
struct topology {
    std::vector<std::shared_ptr<node>> masters;
    std::vector<std::vector<std::shared_ptr<node>>> replicas;  // per master
    std::array<std::uint16_t, cluster::slot_count> owner{};    // index into masters
};

/// The shared state of a cluster backend: nodes, the topology and its refresh. Shared with
/// the background refreshes, which may finish after the backend is gone.
class cluster_core : public std::enable_shared_from_this<cluster_core> {
public:
    cluster_core(asio::any_io_executor ex, redis_cluster_options o)
        : ex_(std::move(ex)), opts_(std::move(o)) {
        for (auto const& s : opts_.seeds) {
            seeds_.push_back(fmt::format("{}:{}", s.host, s.port != 0 ? s.port : 6379));
        }
    }

    [[nodiscard]] auto options() const -> redis_cluster_options const& { return opts_; }

    auto snapshot() -> std::shared_ptr<topology const> {
        std::lock_guard lock(mutex_);
        return topo_;
    }

    /// The current topology, read first if there is none yet.
    auto current(deadline dl) -> task<std::shared_ptr<topology const>> {
        if (auto t = snapshot()) {
            co_return t;
        }
        for (;;) {
            if (auto t = snapshot()) {
                co_return t;
            }
            if (!refreshing_.exchange(true)) {
                std::exception_ptr error;
                try {
                    co_await refresh(dl);
                } catch (...) {
                    error = std::current_exception();
                }
                refreshing_.store(false);
                if (error) {
                    std::rethrow_exception(error);
                }
                continue;
            }
            // Another caller is reading it: wait for it (it is bounded by its own deadline).
            if (dl.expired()) {
                throw_error(errc::timeout, "redis-cluster: deadline passed waiting for the topology");
            }
            asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(2));
            co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
        }
    }

    /// The master of `slot` as the current topology says, without waiting: null when there
    /// is no topology yet or no master for the slot. Every 1024th call also checks whether a
    /// periodic refresh is due.
    auto owner_now(std::uint16_t slot) -> std::shared_ptr<node> {
        if ((ops_.fetch_add(1, std::memory_order_relaxed) & 1023) == 0) {
            periodic_refresh();
        }
        std::lock_guard lock(mutex_);
        if (!topo_ || topo_->owner[slot] == no_owner) {
            return nullptr;
        }
        return topo_->masters[topo_->owner[slot]];
    }

    /// Sends `cmd` (`n` commands on `slot`) to the slot's master and follows redirections.
    /// With `first`, the command was already sent to the owner the topology named and `first`
    /// is its answer: a redirection, or a lost connection.
    auto send(std::uint16_t slot, std::string cmd, std::size_t n, deadline dl,
              std::optional<exec_result> first) -> task<exec_result> {
        std::shared_ptr<node> target;
        exec_result res;
        if (first) {
            target = owner_now(slot);
            res = std::move(*first);
        } else {
            target = co_await owner(slot, dl);
            res = co_await exec_on(target->pick(), std::string(cmd), n, dl);
        }
        bool asking = false;
        auto backoff = first_backoff;
        for (std::size_t attempt = 0;; ++attempt) {
            auto& ec = std::get<0>(res);
            auto& reply = std::get<1>(res);
            if (ec) {
                if (ec == errc::backend_unavailable) {
                    refresh_soon();
                }
                co_return res;
            }
            if (reply.type != raw_reply::kind::error) {
                co_return res;
            }
            auto r = cluster::parse_redirect(reply.str);
            if (!r) {
                co_return res;
            }
            if (attempt >= opts_.max_redirects) {
                co_return failed(errc::backend_error,
                                 fmt::format("redis-cluster: gave up after {} attempts; the last "
                                             "answer was {}",
                                             attempt + 1, reply.str));
            }
            asking = false;
            switch (r->what) {
                case redirect::kind::moved:
                    moved_.fetch_add(1, std::memory_order_relaxed);
                    target = node_for(absolute(r->address, target));
                    refresh_soon();
                    break;
                case redirect::kind::ask:
                    asked_.fetch_add(1, std::memory_order_relaxed);
                    target = node_for(absolute(r->address, target));
                    asking = true;
                    break;
                case redirect::kind::try_again:
                case redirect::kind::cluster_down: {
                    retries_.fetch_add(1, std::memory_order_relaxed);
                    if (!dl.is_never() && clock::now() + backoff >= dl.at) {
                        co_return failed(errc::timeout,
                                         fmt::format("redis-cluster: the deadline passed while "
                                                     "the cluster answered {}",
                                                     reply.str));
                    }
                    asio::steady_timer timer(co_await asio::this_coro::executor, backoff);
                    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
                    backoff = std::min(backoff * 2, last_backoff);
                    if (r->what == redirect::kind::cluster_down) {
                        refresh_soon();
                    }
                    target = co_await owner(slot, dl);
                    break;
                }
            }
            std::string bytes;
            if (asking) {
                bytes = format_command({"ASKING"});
            }
            bytes += cmd;
            res = co_await exec_on(target->pick(), std::move(bytes), n + (asking ? 1 : 0), dl);
        }
    }

    /// The master of `slot` in the current topology (read first if needed).
    auto owner(std::uint16_t slot, deadline dl) -> task<std::shared_ptr<node>> {
        auto t = co_await current(dl);
        if (t->owner[slot] == no_owner) {
            refresh_soon();
            throw_error(errc::backend_unavailable,
                        fmt::format("redis-cluster: no master serves slot {} (the cluster is "
                                    "incomplete or down)",
                                    slot));
        }
        co_return t->masters[t->owner[slot]];
    }

    /// A replica of `slot`'s master, taken in turn; null when it has none.
    auto replica(std::uint16_t slot) -> std::shared_ptr<node> {
        auto t = snapshot();
        if (!t || t->owner[slot] == no_owner) {
            return nullptr;
        }
        auto const& rs = t->replicas[t->owner[slot]];
        if (rs.empty()) {
            return nullptr;
        }
        return rs[next_replica_.fetch_add(1, std::memory_order_relaxed) % rs.size()];
    }

    /// The node at `address`, connected on first use. Replica nodes (`readonly`) are kept
    /// apart: their connections send READONLY.
    auto node_for(std::string const& address, bool readonly = false) -> std::shared_ptr<node> {
        std::lock_guard lock(mutex_);
        if (closed_) {
            throw_error(errc::backend_unavailable, "redis-cluster: the backend is shut down");
        }
        auto& nodes = readonly ? replicas_ : nodes_;
        if (auto it = nodes.find(address); it != nodes.end()) {
            return it->second;
        }
        auto hp = cluster::split_address(address);
        if (!hp) {
            throw_error(errc::protocol_error,
                        fmt::format("redis-cluster: '{}' is not a host:port address", address));
        }
        auto s = std::make_shared<redis_detail::connection_settings>();
        static_cast<redis_options&>(*s) = opts_.connection;
        s->host = hp->first;
        s->port = hp->second;
        s->unix_path.clear();
        s->db = 0;
        s->readonly = readonly;
        auto const host = hp->first.find(':') != std::string::npos
                              ? fmt::format("[{}]", hp->first)
                              : hp->first;
        s->label = fmt::format("redis-cluster {}:{}{}", host, hp->second,
                               readonly ? " (replica)" : "");
        auto n = std::make_shared<node>(ex_, std::move(s), opts_.connection.pool_size, address);
        nodes.emplace(address, n);
        return n;
    }

    /// Reads CLUSTER SLOTS from the known masters, then the seeds, and publishes the first
    /// answer. Throws when none answers.
    auto refresh(deadline dl) -> task<void> {
        std::vector<std::string> candidates;
        if (auto t = snapshot()) {
            for (auto const& m : t->masters) {
                candidates.push_back(m->address);
            }
        }
        for (auto const& s : seeds_) {
            if (std::find(candidates.begin(), candidates.end(), s) == candidates.end()) {
                candidates.push_back(s);
            }
        }
        auto code = errc::backend_unavailable;
        std::string why = "no node to ask";
        for (auto const& address : candidates) {
            auto step = deadline::after(opts_.connection.connect_timeout * 2);
            if (step.at > dl.at) {
                step = dl;
            }
            auto cmd = format_command({"CLUSTER", "SLOTS"});
            auto res = co_await exec_on(node_for(address)->pick(), std::move(cmd), 1, step);
            auto& reply = std::get<1>(res);
            if (std::get<0>(res)) {
                why = fmt::format("{}: {}", address, reply.str);
                continue;
            }
            if (reply.type == raw_reply::kind::error) {
                if (reply.str.find("cluster support disabled") != std::string::npos) {
                    code = errc::invalid_config;
                }
                why = fmt::format("{} answered CLUSTER SLOTS with {}", address, reply.str);
                continue;
            }
            std::vector<cluster::slot_range> ranges;
            try {
                ranges = cluster::parse_cluster_slots(reply, cluster::split_address(address)->first);
            } catch (boost::system::system_error const& e) {
                code = errc::protocol_error;
                why = fmt::format("{}: {}", address, e.what());
                continue;
            }
            if (ranges.empty()) {
                why = fmt::format("{} serves no slot yet", address);
                continue;
            }
            publish(build(ranges));
            refreshes_.fetch_add(1, std::memory_order_relaxed);
            co_return;
        }
        throw_error(code, fmt::format("redis-cluster: the topology could not be read: {}", why));
    }

    /// Starts a refresh in the background, unless one runs or one started under
    /// `refresh_min` ago.
    void refresh_soon() {
        auto const now = clock::now().time_since_epoch().count();
        auto last = last_attempt_.load(std::memory_order_relaxed);
        auto const gap = std::chrono::duration_cast<clock::duration>(opts_.refresh_min).count();
        if (now - last < gap || !last_attempt_.compare_exchange_strong(last, now)) {
            return;
        }
        if (refreshing_.exchange(true)) {
            return;
        }
        asio::co_spawn(ex_, background_refresh(shared_from_this()),
                       [self = shared_from_this()](std::exception_ptr const&) {
                           self->refreshing_.store(false);
                       });
    }

    void periodic_refresh() {
        auto const now = clock::now().time_since_epoch().count();
        auto const last = last_attempt_.load(std::memory_order_relaxed);
        auto const period =
            std::chrono::duration_cast<clock::duration>(opts_.refresh_interval).count();
        if (now - last >= period) {
            refresh_soon();
        }
    }

    /// Every node connected so far, masters and replicas.
    auto all_nodes() -> std::vector<std::shared_ptr<node>> {
        std::lock_guard lock(mutex_);
        std::vector<std::shared_ptr<node>> out;
        for (auto const* m : {&nodes_, &replicas_}) {
            for (auto const& [address, n] : *m) {
                out.push_back(n);
            }
        }
        return out;
    }

    /// Fails everything and refuses new connections: the backend is being destroyed.
    void shutdown() {
        std::map<std::string, std::shared_ptr<node>> nodes;
        std::map<std::string, std::shared_ptr<node>> replicas;
        {
            std::lock_guard lock(mutex_);
            closed_ = true;
            nodes.swap(nodes_);
            replicas.swap(replicas_);
            topo_.reset();
        }
        for (auto const* m : {&nodes, &replicas}) {
            for (auto const& [address, n] : *m) {
                for (auto& c : n->conns) {
                    c->shutdown();
                }
            }
        }
    }

    /// Whether `address` is a node of the current topology, or a seed.
    auto known(std::string const& address) -> bool {
        if (std::find(seeds_.begin(), seeds_.end(), address) != seeds_.end()) {
            return true;
        }
        auto t = snapshot();
        if (!t) {
            return false;
        }
        for (std::size_t i = 0; i < t->masters.size(); ++i) {
            if (t->masters[i]->address == address) {
                return true;
            }
            for (auto const& r : t->replicas[i]) {
                if (r->address == address) {
                    return true;
                }
            }
        }
        return false;
    }

    [[nodiscard]] auto stats() -> redis_cluster_stats {
        redis_cluster_stats out;
        for (auto const& n : all_nodes()) {
            for (auto const& c : n->conns) {
                redis_detail::add_counters(out.connections, *c);
            }
        }
        out.refreshes = refreshes_.load(std::memory_order_relaxed);
        out.moved = moved_.load(std::memory_order_relaxed);
        out.asked = asked_.load(std::memory_order_relaxed);
        out.retries = retries_.load(std::memory_order_relaxed);
        if (auto t = snapshot()) {
            out.masters = t->masters.size();
        }
        return out;
    }

private:
    static auto background_refresh(std::shared_ptr<cluster_core> self) -> task<void> {
        co_await self->refresh(deadline::after(self->opts_.connection.connect_timeout * 2));
    }

    // A redirection's address; an empty host means the node that answered (`from`; without
    // it, the first seed's host).
    auto absolute(std::string const& address, std::shared_ptr<node> const& from) const
        -> std::string {
        if (!address.starts_with(':')) {
            return address;
        }
        return cluster::split_address(from ? from->address : seeds_.front())->first + address;
    }

    auto build(std::vector<cluster::slot_range> const& ranges) -> std::shared_ptr<topology> {
        auto t = std::make_shared<topology>();
        t->owner.fill(no_owner);
        std::map<std::string, std::uint16_t> index;
        for (auto const& r : ranges) {
            auto [it, added] =
                index.emplace(r.master, static_cast<std::uint16_t>(t->masters.size()));
            if (added) {
                t->masters.push_back(node_for(r.master));
                t->replicas.emplace_back();
                if (opts_.read_from_replica) {
                    for (auto const& rep : r.replicas) {
                        t->replicas.back().push_back(node_for(rep, true));
                    }
                }
            }
            std::fill(t->owner.begin() + r.first, t->owner.begin() + r.last + 1, it->second);
        }
        return t;
    }

    void publish(std::shared_ptr<topology const> t) {
        std::lock_guard lock(mutex_);
        if (!closed_) {
            topo_ = std::move(t);
        }
    }

    asio::any_io_executor ex_;
    redis_cluster_options opts_;
    std::vector<std::string> seeds_;

    std::mutex mutex_;  // guards what follows, up to the atomics
    std::map<std::string, std::shared_ptr<node>> nodes_;
    std::map<std::string, std::shared_ptr<node>> replicas_;
    std::shared_ptr<topology const> topo_;
    bool closed_ = false;

    std::atomic<bool> refreshing_{false};
    std::atomic<clock::rep> last_attempt_{clock::now().time_since_epoch().count()};
    std::atomic<std::uint64_t> ops_{0};
    std::atomic<std::size_t> next_replica_{0};
    std::atomic<std::uint64_t> refreshes_{0};
    std::atomic<std::uint64_t> moved_{0};
    std::atomic<std::uint64_t> asked_{0};
    std::atomic<std::uint64_t> retries_{0};
};


class redis_cluster_backend final : public redis_detail::redis_ops {
public:
    redis_cluster_backend(asio::any_io_executor ex, redis_cluster_options const& o)
        : redis_ops(redis_detail::value_limit(o.connection), true),
          core_(std::make_shared<cluster_core>(std::move(ex), o)) {}

    ~redis_cluster_backend() override { core_->shutdown(); }

    redis_cluster_backend(redis_cluster_backend const&) = delete;
    auto operator=(redis_cluster_backend const&) -> redis_cluster_backend& = delete;

    [[nodiscard]] auto traits() const noexcept -> backend_traits const& override {
        static backend_traits const t{
            .name = "redis-cluster", .enforces_deadlines = true, .plain_keys = true};
        return t;
    }

    // Not a coroutine without replicas: the single-key path costs no frame of its own.
    auto get(std::string key, deadline dl) -> task<std::optional<std::string>> override {
        if (!core_->options().read_from_replica) {
            return redis_ops::get(std::move(key), dl);
        }
        return get_from_replica(std::move(key), dl);
    }

    auto multi_get(std::vector<std::string> keys, deadline dl)
        -> task<std::vector<std::optional<std::string>>> override {
        std::vector<std::optional<std::string>> out(keys.size());
        if (keys.empty()) {
            co_return out;
        }
        auto t = co_await core_->current(dl);
        auto shares = split(*t, keys, [](std::string const& k) -> std::string const& { return k; });
        bool const replicas = core_->options().read_from_replica;
        std::vector<std::vector<std::size_t>> redo(shares.size());
        std::vector<task<void>> work;
        for (std::size_t s = 0; s < shares.size(); ++s) {
            auto target = t->masters[shares[s].master];
            if (replicas && !t->replicas[shares[s].master].empty()) {
                // The topology may have changed since `t`: then the master reads it.
                if (auto rep = core_->replica(cluster::key_slot(keys[shares[s].items.front()]))) {
                    target = std::move(rep);
                }
            }
            work.push_back(get_share(std::move(target), shares[s].items, keys, out, redo[s], dl));
        }
        auto errors = co_await net::run_all(std::move(work));
        // Keys redirected meanwhile, and with replicas every key of a failed share, are read
        // again one by one, through the redirection-following path.
        std::vector<std::size_t> again;
        for (std::size_t s = 0; s < shares.size(); ++s) {
            if (errors[s] && replicas) {
                again.insert(again.end(), shares[s].items.begin(), shares[s].items.end());
                errors[s] = nullptr;
            }
            again.insert(again.end(), redo[s].begin(), redo[s].end());
        }
        co_await retry_each(again, shares, errors, [&](std::size_t i) -> task<void> {
            out[i] = co_await redis_ops::get(keys[i], dl);
        });
        raise(std::move(errors), shares, keys.size(), "multi_get", &out);
        co_return out;
    }

    auto multi_set(std::vector<std::pair<std::string, std::string>> items, expiry ttl, deadline dl)
        -> task<void> override {
        if (items.empty()) {
            co_return;
        }
        for (auto const& [k, v] : items) {
            check_value(k, v);
        }
        auto t = co_await core_->current(dl);
        auto shares = split(*t, items, [](auto const& kv) -> std::string const& { return kv.first; });
        std::vector<std::vector<std::size_t>> redo(shares.size());
        std::vector<task<void>> work;
        for (std::size_t s = 0; s < shares.size(); ++s) {
            work.push_back(set_share(t->masters[shares[s].master], shares[s].items, items, ttl,
                                     redo[s], dl));
        }
        auto errors = co_await net::run_all(std::move(work));
        std::vector<std::size_t> again;
        for (auto const& r : redo) {
            again.insert(again.end(), r.begin(), r.end());
        }
        co_await retry_each(again, shares, errors, [&](std::size_t i) -> task<void> {
            co_await set(items[i].first, items[i].second, ttl, dl);
        });
        raise(std::move(errors), shares, items.size(), "multi_set", nullptr);
    }

    auto clear(std::string ns, deadline dl) -> task<std::size_t> override {
        if (ns.empty()) {
            throw_error(errc::invalid_argument,
                        "redis-cluster clear: an empty namespace would match every key; use "
                        "clear_all");
        }
        auto t = co_await core_->current(dl);
        std::vector<std::size_t> counts(t->masters.size());
        std::vector<task<void>> work;
        for (std::size_t m = 0; m < t->masters.size(); ++m) {
            work.push_back([](std::shared_ptr<node> n, std::string const& pattern, deadline when,
                              std::size_t& count) -> task<void> {
                count = co_await redis_detail::scan_unlink(n->pick(), pattern, true, when);
            }(t->masters[m], ns, dl, counts[m]));
        }
        rethrow_first(co_await net::run_all(std::move(work)));
        std::size_t total = 0;
        for (auto c : counts) {
            total += c;
        }
        co_return total;
    }

    auto clear_all(deadline dl) -> task<void> override {
        auto t = co_await core_->current(dl);
        std::vector<task<void>> work;
        for (auto const& m : t->masters) {
            work.push_back([](std::shared_ptr<node> n, deadline when) -> task<void> {
                auto cmd = format_command({"FLUSHDB"});
                auto res = co_await exec_on(n->pick(), std::move(cmd), 1, when);
                redis_detail::expect_ok(check(std::move(res), "FLUSHDB", n->address), "FLUSHDB",
                                        n->address);
            }(m, dl));
        }
        rethrow_first(co_await net::run_all(std::move(work)));
    }

    auto raw(std::vector<std::string> argv, deadline dl) -> task<raw_reply> override {
        redis_detail::check_raw(argv);
        auto key = co_await key_of(argv, dl);
        if (!key) {
            throw_error(errc::invalid_argument,
                        fmt::format("redis-cluster raw: {} has no key to route it by; send it to "
                                    "a node with redis_cluster_raw_on",
                                    argv.front()));
        }
        std::vector<std::string_view> views(argv.begin(), argv.end());
        std::string cmd;
        redis_detail::append_command(cmd, views);
        auto res = co_await route(*key, pass(cmd), 1, dl);
        if (needs_follow(res)) {
            res = co_await follow(*key, std::move(cmd), 1, dl, std::move(res));
        }
        co_return check(std::move(res), argv.front(), "");
    }

    auto raw_on(std::string address, std::vector<std::string> argv, deadline dl)
        -> task<raw_reply> {
        redis_detail::check_raw(argv);
        co_await core_->current(dl);
        if (!core_->known(address)) {
            throw_error(errc::invalid_argument,
                        fmt::format("redis-cluster: {} is neither a node of the cluster nor a seed",
                                    address));
        }
        std::vector<std::string_view> views(argv.begin(), argv.end());
        std::string cmd;
        redis_detail::append_command(cmd, views);
        auto res = co_await exec_on(core_->node_for(address)->pick(), std::move(cmd), 1, dl);
        co_return check(std::move(res), argv.front(), "");
    }

    auto masters(deadline dl) -> task<std::vector<std::string>> {
        auto t = co_await core_->current(dl);
        std::vector<std::string> out;
        for (auto const& m : t->masters) {
            out.push_back(m->address);
        }
        co_return out;
    }

    auto close() -> task<void> override {
        for (auto const& n : core_->all_nodes()) {
            for (auto const& c : n->conns) {
                co_await c->async_close(asio::as_tuple(asio::use_awaitable));
            }
        }
    }

    [[nodiscard]] auto stats() const -> redis_cluster_stats { return core_->stats(); }

protected:
    // Not a coroutine: with a topology, the command goes straight to the slot's owner; what
    // comes back redirected is followed by `follow`.
    auto route(std::string_view key, std::string cmd, std::size_t replies, deadline dl)
        -> task<exec_result> override {
        auto const slot = cluster::key_slot(key);
        if (auto target = core_->owner_now(slot)) {
            return exec_on(target->pick(), std::move(cmd), replies, dl);
        }
        return core_->send(slot, std::move(cmd), replies, dl, std::nullopt);
    }

    auto follow(std::string_view key, std::string cmd, std::size_t replies, deadline dl,
                exec_result first) -> task<exec_result> override {
        return core_->send(cluster::key_slot(key), std::move(cmd), replies, dl,
                           std::move(first));
    }

private:
    // A replica of the key's slot first; its master when it has none, fails or redirects.
    auto get_from_replica(std::string key, deadline dl) -> task<std::optional<std::string>> {
        if (auto rep = core_->replica(cluster::key_slot(key))) {
            auto cmd = format_command({"GET", key});
            auto res = co_await exec_on(rep->pick(), std::move(cmd), 1, dl);
            auto const& ec = std::get<0>(res);
            if (!ec && std::get<1>(res).type != raw_reply::kind::error) {
                co_return redis_detail::to_bytes(std::move(std::get<1>(res)), "GET", key);
            }
            if (ec == errc::timeout || ec == asio::error::operation_aborted) {
                check(std::move(res), "GET", key);  // throws: no time left to ask the master
            }
        }
        co_return co_await redis_ops::get(std::move(key), dl);
    }

    /// The items of a batch that one master owns.
    struct share {
        std::uint16_t master = 0;
        std::vector<std::size_t> items;
    };

    template <class Item, class KeyOf>
    static auto split(topology const& t, std::vector<Item> const& items, KeyOf key_of)
        -> std::vector<share> {
        std::vector<share> shares;
        std::vector<std::size_t> by_master(t.masters.size() + 1, SIZE_MAX);
        for (std::size_t i = 0; i < items.size(); ++i) {
            auto o = t.owner[cluster::key_slot(key_of(items[i]))];
            // A slot without a master joins the first share: its key is then answered with an
            // error and retried on its own, which fails with the reason.
            std::size_t m = o == no_owner ? 0 : o;
            if (by_master[m] == SIZE_MAX) {
                by_master[m] = shares.size();
                shares.push_back(share{static_cast<std::uint16_t>(m), {}});
            }
            shares[by_master[m]].items.push_back(i);
        }
        return shares;
    }

    // One master's share of a multi_get: a GET per key, pipelined as one request. Keys whose
    // answer is a redirection go to `redo`.
    static auto get_share(std::shared_ptr<node> n, std::vector<std::size_t> const& items,
                          std::vector<std::string> const& keys,
                          std::vector<std::optional<std::string>>& out,
                          std::vector<std::size_t>& redo, deadline dl) -> task<void> {
        std::string cmd;
        for (auto i : items) {
            redis_detail::append_command(cmd, {"GET", keys[i]});
        }
        auto res = co_await exec_on(n->pick(), std::move(cmd),
                                    items.size() | redis_detail::resp_protocol::gather, dl);
        auto all = check(std::move(res), "GET", keys[items.front()]);
        for (std::size_t j = 0; j < items.size(); ++j) {
            auto& r = all.elements[j];
            if (r.type == raw_reply::kind::error && cluster::parse_redirect(r.str)) {
                redo.push_back(items[j]);
                continue;
            }
            out[items[j]] = redis_detail::to_bytes(std::move(r), "GET", keys[items[j]]);
        }
    }

    // One master's share of a multi_set: a SET per key, pipelined as one request.
    static auto set_share(std::shared_ptr<node> n, std::vector<std::size_t> const& items,
                          std::vector<std::pair<std::string, std::string>> const& kvs, expiry ttl,
                          std::vector<std::size_t>& redo, deadline dl) -> task<void> {
        std::string cmd;
        auto const ms = std::to_string(ttl.duration().count());
        for (auto i : items) {
            if (ttl.is_never()) {
                redis_detail::append_command(cmd, {"SET", kvs[i].first, kvs[i].second});
            } else {
                redis_detail::append_command(cmd, {"SET", kvs[i].first, kvs[i].second, "PX", ms});
            }
        }
        auto res = co_await exec_on(n->pick(), std::move(cmd),
                                    items.size() | redis_detail::resp_protocol::gather, dl);
        auto all = check(std::move(res), "SET", kvs[items.front()].first);
        for (std::size_t j = 0; j < items.size(); ++j) {
            auto const& r = all.elements[j];
            if (r.type == raw_reply::kind::error && cluster::parse_redirect(r.str)) {
                redo.push_back(items[j]);
                continue;
            }
            redis_detail::expect_ok(r, "SET", kvs[items[j]].first);
        }
    }

    // Runs `one(i)` for every item in `again`, concurrently. A failed item becomes a share of
    // its own in `shares` / `errors`, so that `raise` names it.
    template <class One>
    static auto retry_each(std::vector<std::size_t> const& again, std::vector<share>& shares,
                           std::vector<std::exception_ptr>& errors, One one) -> task<void> {
        if (again.empty()) {
            co_return;
        }
        std::vector<task<void>> work;
        for (auto i : again) {
            work.push_back(one(i));
        }
        auto results = co_await net::run_all(std::move(work));
        for (std::size_t j = 0; j < again.size(); ++j) {
            if (results[j]) {
                shares.push_back(share{no_owner, {again[j]}});
                errors.push_back(results[j]);
            }
        }
    }

    void raise(std::vector<std::exception_ptr> errors, std::vector<share> const& shares,
               std::size_t total, std::string_view op,
               std::vector<std::optional<std::string>>* values) const {
        net::batch_failures failures;
        std::size_t live = 0;
        for (std::size_t s = 0; s < shares.size(); ++s) {
            // A share whose every key was redirected and then retried counts once, by its
            // retries; the share itself did not fail.
            live += 1;
            if (errors[s]) {
                failures.emplace_back(s, errors[s]);
            }
        }
        auto t = core_->snapshot();
        net::raise_batch_failures(
            std::move(failures), live, total, fmt::format("redis-cluster {}", op),
            [&](std::size_t s) -> std::vector<std::size_t> const& { return shares[s].items; },
            [&](std::size_t s) -> std::string {
                if (shares[s].master == no_owner || !t || shares[s].master >= t->masters.size()) {
                    return "retried key";
                }
                return t->masters[shares[s].master]->address;
            },
            values);
    }

    static void rethrow_first(std::vector<std::exception_ptr> const& errors) {
        for (auto const& e : errors) {
            if (e) {
                std::rethrow_exception(e);
            }
        }
    }

    // The key a raw command is routed by: the server's COMMAND GETKEYS says which arguments
    // are keys, for every command it knows, modules included.
    auto key_of(std::vector<std::string> const& argv, deadline dl)
        -> task<std::optional<std::string>> {
        if (argv.size() < 2) {
            co_return std::nullopt;
        }
        if (iequals(argv.front(), "EVAL") || iequals(argv.front(), "EVALSHA") ||
            iequals(argv.front(), "FCALL")) {
            if (argv.size() > 3 && argv[2] != "0") {
                co_return argv[3];
            }
            co_return std::nullopt;
        }
        std::vector<std::string_view> views{"COMMAND", "GETKEYS"};
        views.insert(views.end(), argv.begin(), argv.end());
        std::string cmd;
        redis_detail::append_command(cmd, views);
        auto t = co_await core_->current(dl);
        auto res = co_await exec_on(t->masters.front()->pick(), std::move(cmd), 1, dl);
        auto r = check(std::move(res), "COMMAND GETKEYS", argv.front());
        if (r.type == raw_reply::kind::array && !r.elements.empty() &&
            r.elements.front().type == raw_reply::kind::string) {
            co_return std::move(r.elements.front().str);
        }
        if (r.type == raw_reply::kind::error && r.str.find("no key") == std::string::npos) {
            redis_detail::throw_unexpected(r, "COMMAND GETKEYS", argv.front());
        }
        co_return std::nullopt;
    }

    std::shared_ptr<cluster_core> core_;
};

[[noreturn]] void bad_config(std::string const& what) { throw_error(errc::invalid_config, what); }

}  // namespace

auto redis_cluster_statistics(backend const& b) -> std::optional<redis_cluster_stats> {
    if (auto const* r = dynamic_cast<redis_cluster_backend const*>(&b)) {
        return r->stats();
    }
    return std::nullopt;
}

auto redis_cluster_key_slot(std::string_view key) noexcept -> std::uint16_t {
    return cluster::key_slot(key);
}

auto redis_cluster_raw_on(backend& b, std::string node, std::vector<std::string> argv,
                          deadline dl) -> task<raw_reply> {
    auto* c = dynamic_cast<redis_cluster_backend*>(&b);
    if (c == nullptr) {
        throw_error(errc::invalid_argument, "redis_cluster_raw_on: not a redis-cluster backend");
    }
    return c->raw_on(std::move(node), std::move(argv), dl);
}

auto redis_cluster_masters(backend& b, deadline dl) -> task<std::vector<std::string>> {
    auto* c = dynamic_cast<redis_cluster_backend*>(&b);
    if (c == nullptr) {
        throw_error(errc::invalid_argument, "redis_cluster_masters: not a redis-cluster backend");
    }
    return c->masters(dl);
}

auto make_redis_cluster_backend(asio::any_io_executor ex, redis_cluster_options opts)
    -> std::shared_ptr<backend> {
    if (opts.seeds.empty()) {
        bad_config("redis-cluster: no seed node");
    }
    for (auto const& s : opts.seeds) {
        if (s.host.empty()) {
            bad_config("redis-cluster: a seed node has no host");
        }
    }
    redis_detail::check_connection_options(opts.connection, "redis-cluster");
    if (opts.connection.db != 0) {
        bad_config("redis-cluster: a cluster has database 0 only");
    }
    if (opts.max_redirects > 100) {
        bad_config(fmt::format("redis-cluster: max_redirects {} is over 100", opts.max_redirects));
    }
    if (opts.refresh_interval.count() <= 0 || opts.refresh_min.count() <= 0) {
        bad_config("redis-cluster: refresh_interval and refresh_min must be positive");
    }
    return std::make_shared<redis_cluster_backend>(std::move(ex), opts);
}

auto redis_cluster_backend_from_config(asio::any_io_executor ex, backend_config cfg)
    -> std::shared_ptr<backend> {
    if (cfg.scheme != "redis-cluster") {
        bad_config(fmt::format("redis-cluster: cannot handle scheme '{}'", cfg.scheme));
    }
    if (cfg.endpoints.empty()) {
        bad_config("redis-cluster: no seed node; give one or more host:port, comma-separated");
    }
    if (!cfg.path.empty() || cfg.db) {
        bad_config("redis-cluster: a cluster has database 0 only; the URL takes no path");
    }
    redis_cluster_options o;
    o.seeds = cfg.endpoints;
    if (cfg.params.contains("db")) {
        bad_config("redis-cluster: a cluster has database 0 only; db is not a parameter");
    }
    redis_detail::take_connection_params(cfg, o.connection, "redis-cluster");
    if (auto v = cfg.take("read_from")) {
        if (*v == "replica") {
            o.read_from_replica = true;
        } else if (*v != "master") {
            bad_config(fmt::format("redis-cluster: read_from is 'master' or 'replica', not '{}'",
                                   *v));
        }
    }
    if (auto v = cfg.take_size("max_redirects")) {
        o.max_redirects = static_cast<std::size_t>(*v);
    }
    if (auto v = cfg.take_duration("refresh_interval")) {
        o.refresh_interval = *v;
    }
    if (auto v = cfg.take_duration("refresh_min")) {
        o.refresh_min = *v;
    }
    cfg.reject_unknown();
    return make_redis_cluster_backend(std::move(ex), std::move(o));
}

}  // namespace asiocache::backends
