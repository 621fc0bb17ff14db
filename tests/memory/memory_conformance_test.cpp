// SPDX-License-Identifier: MIT
// The shared conformance suite over the memory backend, with time on a manual clock.
#include "asiocache/backends/memory.hpp"
#include "conformance/conformance_suite.hpp"
#include "manual_clock.hpp"

namespace {

struct memory_env {
    static constexpr char const* name = "memory";

    static auto clock() -> std::shared_ptr<asiocache::test::manual_clock> {
        static auto const instance = std::make_shared<asiocache::test::manual_clock>();
        return instance;
    }
    static auto make(boost::asio::io_context& /*io*/) -> std::shared_ptr<asiocache::backend> {
        return asiocache::backends::make_memory_backend({.time_source = clock()});
    }
    static void advance(boost::asio::io_context& /*io*/, std::chrono::milliseconds d) {
        clock()->advance(d);
    }
};

}  // namespace

namespace asiocache::test {
INSTANTIATE_TYPED_TEST_SUITE_P(memory, conformance, ::testing::Types<memory_env>);
}  // namespace asiocache::test
