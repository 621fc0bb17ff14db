// SPDX-License-Identifier: MIT
#include <asiocache/asiocache.hpp>
#include <asiocache/backends/memory.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <cstdio>

int main() {
    boost::asio::io_context io;
    int status = 1;
    asiocache::cache cache{asiocache::backends::make_memory_backend(), {.ns = "consumer"}};
    auto body = [&]() -> asiocache::task<void> {
        co_await cache.set("answer", 42);
        auto v = co_await cache.get<int>("answer");
        status = v == 42 ? 0 : 1;
    };
    boost::asio::co_spawn(io, body(), boost::asio::detached);
    io.run();
    std::puts(status == 0 ? "consumer: ok" : "consumer: wrong value");
    return status;
}
