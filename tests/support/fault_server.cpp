// SPDX-License-Identifier: MIT
#include "fault_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <future>

namespace asiocache::test {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

auto sleep_for(std::chrono::milliseconds d) -> asio::awaitable<void> {
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    co_await t.async_wait(tuple_awaitable);
}

auto listen_on_loopback(asio::io_context& io) -> tcp::acceptor {
    tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    a.listen();
    return a;
}

/// Runs `fn` on `io`'s thread and waits for it: the harness's state belongs to that thread.
template <class Fn>
void run_on(asio::io_context& io, Fn fn) {
    std::promise<void> done;
    asio::post(io, [&] {
        fn();
        done.set_value();
    });
    done.get_future().wait();
}

void close_hard(tcp::socket& s) {
    error_code ignored;
    s.set_option(asio::socket_base::linger(true, 0), ignored);  // RST, not FIN
    s.close(ignored);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// fault_server

struct fault_server::impl {
    asio::io_context io;
    tcp::acceptor acceptor{listen_on_loopback(io)};
    std::mutex mutex;
    server_script script;
    std::vector<std::weak_ptr<tcp::socket>> open;
    std::thread thread;

    auto serve(std::shared_ptr<tcp::socket> sock, server_script s) -> asio::awaitable<void> {
        if (!s.greeting.empty()) {
            co_await asio::async_write(*sock, asio::buffer(s.greeting), tuple_awaitable);
        }
        if (s.close_at_accept) {
            error_code ignored;
            sock->shutdown(tcp::socket::shutdown_both, ignored);
            sock->close(ignored);
            co_return;
        }
        std::string inbox;
        std::array<char, 16 * 1024> buf{};
        for (;;) {
            auto [ec, n] = co_await sock->async_read_some(asio::buffer(buf), tuple_awaitable);
            if (ec) {
                co_return;
            }
            inbox.append(buf.data(), n);
            if (!s.respond) {
                continue;
            }
            while (auto plan = s.respond(inbox)) {
                if (plan->drip.count() > 0) {
                    for (char c : plan->bytes) {
                        auto [wec, w] = co_await asio::async_write(*sock, asio::buffer(&c, 1),
                                                                    tuple_awaitable);
                        if (wec) {
                            co_return;
                        }
                        co_await sleep_for(plan->drip);
                    }
                } else if (!plan->bytes.empty()) {
                    auto [wec, w] =
                        co_await asio::async_write(*sock, asio::buffer(plan->bytes), tuple_awaitable);
                    if (wec) {
                        co_return;
                    }
                }
                if (plan->close_after) {
                    error_code ignored;
                    sock->shutdown(tcp::socket::shutdown_both, ignored);
                    sock->close(ignored);
                    co_return;
                }
            }
        }
    }

    auto accept_loop(fault_server* owner) -> asio::awaitable<void> {
        for (;;) {
            auto sock = std::make_shared<tcp::socket>(io);
            auto [ec] = co_await acceptor.async_accept(*sock, tuple_awaitable);
            if (ec) {
                co_return;
            }
            owner->accepted_.fetch_add(1);
            server_script s;
            {
                std::lock_guard lock(mutex);
                s = script;
                std::erase_if(open, [](auto const& w) { return w.expired(); });
                open.push_back(sock);
            }
            asio::co_spawn(io, serve(sock, std::move(s)), asio::detached);
        }
    }
};

fault_server::fault_server(server_script script) : impl_(std::make_unique<impl>()) {
    impl_->script = std::move(script);
    port_ = impl_->acceptor.local_endpoint().port();
    asio::co_spawn(impl_->io, impl_->accept_loop(this), asio::detached);
    impl_->thread = std::thread([this] { impl_->io.run(); });
}

fault_server::~fault_server() {
    impl_->io.stop();
    impl_->thread.join();
}

void fault_server::set_script(server_script script) {
    std::lock_guard lock(impl_->mutex);
    impl_->script = std::move(script);
}

void fault_server::drop_connections() {
    run_on(impl_->io, [this] {
        std::vector<std::weak_ptr<tcp::socket>> open;
        {
            std::lock_guard lock(impl_->mutex);
            open.swap(impl_->open);
        }
        for (auto& w : open) {
            if (auto s = w.lock()) {
                error_code ignored;
                s->close(ignored);
            }
        }
    });
}

auto resp_responder(std::function<reply_plan(std::vector<std::string> const& argv)> answer)
    -> responder {
    return [answer = std::move(answer)](std::string& inbox) -> std::optional<reply_plan> {
        // One command: *N\r\n followed by N bulk strings ($len\r\nbytes\r\n).
        auto line_end = [&](std::size_t from) { return inbox.find("\r\n", from); };
        if (inbox.empty()) {
            return std::nullopt;
        }
        std::vector<std::string> argv;
        std::size_t pos = 0;
        if (inbox[0] != '*') {
            auto e = line_end(0);  // an inline command, as redis-cli's telnet form
            if (e == std::string::npos) {
                return std::nullopt;
            }
            std::string_view line(inbox.data(), e);
            while (!line.empty()) {
                auto sp = line.find(' ');
                argv.emplace_back(line.substr(0, sp));
                line = sp == std::string_view::npos ? std::string_view{} : line.substr(sp + 1);
            }
            pos = e + 2;
        } else {
            auto e = line_end(0);
            if (e == std::string::npos) {
                return std::nullopt;
            }
            long n = 0;
            std::from_chars(inbox.data() + 1, inbox.data() + e, n);
            pos = e + 2;
            for (long i = 0; i < n; ++i) {
                auto he = line_end(pos);
                if (he == std::string::npos || inbox[pos] != '$') {
                    return std::nullopt;
                }
                std::size_t len = 0;
                std::from_chars(inbox.data() + pos + 1, inbox.data() + he, len);
                if (inbox.size() < he + 2 + len + 2) {
                    return std::nullopt;
                }
                argv.emplace_back(inbox.substr(he + 2, len));
                pos = he + 2 + len + 2;
            }
        }
        inbox.erase(0, pos);
        if (argv.empty()) {
            return reply_plan{};
        }
        return answer(argv);
    };
}

auto redis_like(std::function<reply_plan(std::vector<std::string> const& argv)> answer)
    -> server_script {
    auto upper = [](std::string s) {
        std::transform(s.begin(), s.end(), s.begin(),
                       [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
        return s;
    };
    return {.respond = resp_responder([answer = std::move(answer), upper](
                                          std::vector<std::string> const& argv) -> reply_plan {
        auto name = upper(argv.front());
        if (name == "PING") {
            return {.bytes = "+PONG\r\n"};
        }
        if (name == "AUTH" || name == "SELECT") {
            return {.bytes = "+OK\r\n"};
        }
        return answer(argv);
    })};
}

// ---------------------------------------------------------------------------------------------
// chaos_proxy

struct chaos_proxy::impl {
    struct link {
        explicit link(asio::io_context& io) : client(io), server(io) {}
        tcp::socket client;
        tcp::socket server;
        std::size_t server_bytes = 0;
        void close() {
            error_code ignored;
            client.close(ignored);
            server.close(ignored);
        }
    };

    asio::io_context io;
    tcp::acceptor acceptor{listen_on_loopback(io)};
    std::uint16_t upstream = 0;
    mutable std::mutex mutex;
    chaos_faults faults;
    std::vector<std::weak_ptr<link>> links;
    std::thread thread;

    auto current() const -> chaos_faults {
        std::lock_guard lock(mutex);
        return faults;
    }

    // Forwards one direction, applying the faults to every chunk.
    auto pump(std::shared_ptr<link> l, bool to_client) -> asio::awaitable<void> {
        auto& from = to_client ? l->server : l->client;
        auto& to = to_client ? l->client : l->server;
        std::array<char, 16 * 1024> buf{};
        for (;;) {
            auto [ec, n] = co_await from.async_read_some(asio::buffer(buf), tuple_awaitable);
            if (ec) {
                l->close();
                co_return;
            }
            auto f = current();
            while (f.stall && !f.black_hole && from.is_open()) {
                co_await sleep_for(std::chrono::milliseconds(5));
                f = current();
            }
            if (f.black_hole) {
                continue;  // swallowed
            }
            if (f.latency.count() > 0) {
                co_await sleep_for(f.latency);
            }
            if (f.bandwidth > 0) {
                auto ms = static_cast<std::int64_t>(n * 1000 / f.bandwidth);
                co_await sleep_for(std::chrono::milliseconds(std::max<std::int64_t>(ms, 1)));
            }
            bool cut = false;
            if (to_client && f.truncate_after > 0) {
                auto left = f.truncate_after > l->server_bytes ? f.truncate_after - l->server_bytes
                                                               : 0;
                if (n >= left) {
                    n = left;
                    cut = true;
                }
                l->server_bytes += n;
            }
            if (n > 0) {
                auto [wec, w] = co_await asio::async_write(to, asio::buffer(buf.data(), n),
                                                           tuple_awaitable);
                if (wec) {
                    l->close();
                    co_return;
                }
            }
            if (cut) {
                l->close();
                co_return;
            }
        }
    }

    auto accept_loop(chaos_proxy* owner) -> asio::awaitable<void> {
        for (;;) {
            auto l = std::make_shared<link>(io);
            auto [ec] = co_await acceptor.async_accept(l->client, tuple_awaitable);
            if (ec) {
                co_return;
            }
            owner->accepted_.fetch_add(1);
            auto f = current();
            if (f.refuse) {
                l->close();
                continue;
            }
            asio::co_spawn(io, connect_and_pump(l), asio::detached);
        }
    }

    auto connect_and_pump(std::shared_ptr<link> l) -> asio::awaitable<void> {
        auto [ec] = co_await l->server.async_connect(
            tcp::endpoint(asio::ip::make_address("127.0.0.1"), upstream), tuple_awaitable);
        if (ec) {
            l->close();
            co_return;
        }
        error_code ignored;
        l->server.set_option(tcp::no_delay(true), ignored);
        l->client.set_option(tcp::no_delay(true), ignored);
        {
            std::lock_guard lock(mutex);
            std::erase_if(links, [](auto const& w) { return w.expired(); });
            links.push_back(l);
        }
        asio::co_spawn(io, pump(l, false), asio::detached);
        asio::co_spawn(io, pump(l, true), asio::detached);
    }
};

chaos_proxy::chaos_proxy(std::uint16_t upstream_port) : impl_(std::make_unique<impl>()) {
    impl_->upstream = upstream_port;
    port_ = impl_->acceptor.local_endpoint().port();
    asio::co_spawn(impl_->io, impl_->accept_loop(this), asio::detached);
    impl_->thread = std::thread([this] { impl_->io.run(); });
}

chaos_proxy::~chaos_proxy() {
    impl_->io.stop();
    impl_->thread.join();
}

void chaos_proxy::set(chaos_faults f) {
    std::lock_guard lock(impl_->mutex);
    impl_->faults = f;
}

auto chaos_proxy::faults() const -> chaos_faults { return impl_->current(); }

void chaos_proxy::reset_all() {
    run_on(impl_->io, [this] {
        std::vector<std::weak_ptr<impl::link>> links;
        {
            std::lock_guard lock(impl_->mutex);
            links.swap(impl_->links);
        }
        for (auto& w : links) {
            if (auto l = w.lock()) {
                close_hard(l->client);
                close_hard(l->server);
            }
        }
    });
}

}  // namespace asiocache::test
