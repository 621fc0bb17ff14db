// SPDX-License-Identifier: MIT
// asiocache-bench: the `asiocache bench` command as a program of its own.

#include "asiocache/backends/memory.hpp"
#include "asiocache/bench/command.hpp"

#if defined(ASIOCACHE_BENCH_HAS_BUILTIN)
#include "asiocache/backends/builtin.hpp"
#endif

#include <CLI/CLI.hpp>

#include <stdexcept>
#include <string>

namespace {

auto make_bench_cache(std::string const& url, boost::asio::any_io_executor ex)
    -> std::shared_ptr<asiocache::cache> {
#if defined(ASIOCACHE_BENCH_HAS_BUILTIN)
    return std::make_shared<asiocache::cache>(asiocache::make_cache(url, std::move(ex)));
#else
    // Without the registry only the memory backend, with its defaults, is available.
    (void)ex;
    if (url != "memory://" && url != "memory:") {
        throw std::invalid_argument("backend not built: this asiocache-bench knows only memory:// "
                                    "(build it with the registry for other URLs)");
    }
    return std::make_shared<asiocache::cache>(asiocache::backends::make_memory_backend());
#endif
}

}  // namespace

auto main(int argc, char** argv) -> int {
    CLI::App app{"asiocache-bench: measure caches under a workload (the `asiocache bench` "
                 "command)"};
    asiocache::bench::configure_bench_command(app, make_bench_cache);
    try {
        app.parse(argc, argv);
    } catch (CLI::ParseError const& e) {
        return app.exit(e);
    }
    return 0;
}
