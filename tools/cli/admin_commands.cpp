// SPDX-License-Identifier: MIT
// Subcommands on the whole cache: clear, flush, stats, raw.
#include "cli.hpp"

#if defined(ASIOCACHE_HAS_MEMORY)
#include "asiocache/backends/memory.hpp"
#endif

#include <cstdio>
#include <memory>

namespace asiocache::cli {
namespace {

auto reply_json(raw_reply const& r) -> nlohmann::json {
    switch (r.type) {
        case raw_reply::kind::nil:
            return nullptr;
        case raw_reply::kind::integer:
            return r.integer;
        case raw_reply::kind::string:
            return session::to_json(r.str);
        case raw_reply::kind::status:
            return {{"status", r.str}};
        case raw_reply::kind::error:
            return {{"error", r.str}};
        case raw_reply::kind::array: {
            auto out = nlohmann::json::array();
            for (auto const& e : r.elements) {
                out.push_back(reply_json(e));
            }
            return out;
        }
    }
    return nullptr;
}

// redis-cli's layout: strings as they are, "(integer) 3", "(nil)", arrays numbered.
void print_reply(raw_reply const& r, std::string const& indent) {
    switch (r.type) {
        case raw_reply::kind::nil:
            std::printf("(nil)\n");
            return;
        case raw_reply::kind::integer:
            std::printf("(integer) %lld\n", static_cast<long long>(r.integer));
            return;
        case raw_reply::kind::string:
        case raw_reply::kind::status:
            std::fwrite(r.str.data(), 1, r.str.size(), stdout);
            std::fputc('\n', stdout);
            return;
        case raw_reply::kind::error:
            std::printf("(error) %s\n", r.str.c_str());
            return;
        case raw_reply::kind::array:
            if (r.elements.empty()) {
                std::printf("(empty array)\n");
            }
            for (std::size_t i = 0; i < r.elements.size(); ++i) {
                std::printf("%s%zu) ", i == 0 ? "" : indent.c_str(), i + 1);
                print_reply(r.elements[i], indent + "   ");
            }
            return;
    }
}

}  // namespace

void add_clear(CLI::App& app, action& out) {
    auto* cmd = app.add_subcommand(
        "clear",
        "Remove the keys of the namespace (--namespace, or ?namespace= in the URL) and "
        "print how many were removed; other keys stay. Memcached cannot list keys "
        "(exit 3)");
    cmd->callback([&out] {
        out = [](session& s) {
            if (s.store().options().ns.empty()) {
                throw usage_error(
                    "clear removes one namespace's keys: give --namespace NS or ?namespace=NS "
                    "in the URL (flush removes every key)");
            }
            auto removed = s.run(s.store().clear());
            if (s.json_output()) {
                session::print_json({{"removed", removed}});
            } else {
                std::printf("%zu\n", removed);
            }
            return exit_ok;
        };
    });
}

void add_flush(CLI::App& app, action& out) {
    auto* cmd =
        app.add_subcommand("flush",
                           "Remove every key the backend holds, whatever its namespace (FLUSHDB, "
                           "flush_all)");
    cmd->callback([&out] {
        out = [](session& s) {
            s.run(s.store().clear_all());
            if (s.json_output()) {
                session::print_json({{"ok", true}});
            }
            return exit_ok;
        };
    });
}

void add_stats(CLI::App& app, action& out) {
    auto* cmd = app.add_subcommand(
        "stats",
        "Print what the backend is and can do, and its counters where it keeps them "
        "(the memory backend); for a server's own figures use raw (INFO, stats)");
    cmd->callback([&out] {
        out = [](session& s) {
            auto const& b = s.store().backend();
            auto const& t = b->traits();
            nlohmann::json doc{
                {"url", s.printable_url()},
                {"backend", std::string(t.name)},
                {"serializer", std::string(s.store().value_serializer().name())},
                {"namespace", s.store().options().ns},
                {"enforces_deadlines", t.enforces_deadlines},
                {"supports_ttl", t.supports_ttl},
                {"supports_clear_namespace", t.supports_clear_namespace},
                {"ttl_granularity_ms", t.ttl_granularity.count()},
                {"max_key_size", t.max_key_size},
            };
#if defined(ASIOCACHE_HAS_MEMORY)
            if (auto m = std::dynamic_pointer_cast<backends::memory_backend>(b)) {
                auto st = m->stats();
                doc["hits"] = st.hits;
                doc["misses"] = st.misses;
                doc["evictions"] = st.evictions;
                doc["expirations"] = st.expirations;
                doc["entries"] = st.entries;
                doc["bytes"] = st.bytes;
            }
#endif
            if (s.json_output()) {
                session::print_json(doc);
            } else {
                for (auto const& [k, v] : doc.items()) {
                    auto text = v.is_string() ? v.get<std::string>() : v.dump();
                    std::printf("%s: %s\n", k.c_str(), text.c_str());
                }
            }
            return exit_ok;
        };
    });
}

void add_raw(CLI::App& app, action& out) {
    auto args = std::make_shared<std::vector<std::string>>();
    auto* cmd = app.add_subcommand(
        "raw",
        "Send a backend-native command as it is, e.g. raw INFO server, or raw -- SET k "
        "-1 for arguments that start with '-'. Keys are not namespaced. An error reply "
        "exits 3");
    cmd->add_option("command", *args, "The command and its arguments")->required();
    cmd->callback([&out, args] {
        out = [args](session& s) {
            auto reply = s.run(s.store().raw(*args));
            if (s.json_output()) {
                session::print_json(reply_json(reply));
            } else {
                print_reply(reply, "");
            }
            return reply.type == raw_reply::kind::error ? exit_backend : exit_ok;
        };
    });
}

}  // namespace asiocache::cli
