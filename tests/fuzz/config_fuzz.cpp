// SPDX-License-Identifier: MIT
// Fuzz target: config files (registry::load_config) and their entries (parse_cache_entry).
//
// The input is the file's text. Properties:
// - text that is not JSON is refused before the registry sees it (as load_config_file does);
// - every entry parses, or fails with `errc::invalid_config` and a message naming its alias;
// - load_config accepts the document exactly when it is an object with a "default" entry, no
//   empty alias name, and every entry parses, and then holds each alias with the configuration
//   its entry parses to;
// - a refused document leaves the registry as it was (all entries are checked before any is
//   added);
// - a parsed configuration never prints its password.
#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "asiocache/registry.hpp"
#include "fuzz_check.hpp"

namespace {

using asiocache::errc;

void check_printed(asiocache::cache_config const& cfg) {
    if (cfg.backend.password) {
        FUZZ_CHECK(cfg.redacted().find(":***@") != std::string::npos);
    }
    for (auto const* name : {"namespace", "ttl", "timeout", "serializer"}) {
        FUZZ_CHECK(!cfg.backend.params.contains(name));
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    auto doc = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) {
        return 0;
    }
    bool all_parse = true;
    if (doc.is_object()) {
        for (auto const& [alias, entry] : doc.items()) {
            auto r = asiocache::parse_cache_entry(entry, alias);
            if (!r) {
                FUZZ_CHECK(r.error().code == errc::invalid_config);
                FUZZ_CHECK(r.error().message.find(alias) != std::string::npos);
                all_parse = false;
            } else {
                check_printed(*r);
            }
        }
    } else {
        // A lone entry, as parse_cache_entry sees one.
        auto r = asiocache::parse_cache_entry(doc, "alias");
        FUZZ_CHECK(r || r.error().code == errc::invalid_config);
    }

    boost::asio::io_context io;
    asiocache::registry caches{io.get_executor()};
    caches.add("before", "memory://?namespace=kept");
    bool accepted = true;
    try {
        caches.load_config(doc);
    } catch (boost::system::system_error const& e) {
        FUZZ_CHECK(asiocache::fuzz::has_code(e, errc::invalid_config));
        accepted = false;
    }
    // An empty alias name is refused too (registry::add), whatever its entry says.
    FUZZ_CHECK(accepted ==
               (doc.is_object() && doc.contains("default") && !doc.contains("") && all_parse));
    if (!accepted) {
        FUZZ_CHECK(caches.aliases() == std::vector<std::string>{"before"});
        return 0;
    }
    for (auto const& [alias, entry] : doc.items()) {
        FUZZ_CHECK(caches.contains(alias));
        auto held = caches.config(alias);
        auto parsed = asiocache::parse_cache_entry(entry, alias);
        FUZZ_CHECK(parsed && held.redacted() == parsed->redacted());
        FUZZ_CHECK(held.backend.password == parsed->backend.password);
    }
    return 0;
}
