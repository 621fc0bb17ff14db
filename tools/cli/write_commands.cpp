// SPDX-License-Identifier: MIT
// Subcommands that write: set, add, mset, del, incr, expire.
#include <fmt/format.h>

#include <cstdio>
#include <memory>

#include "cli.hpp"

namespace asiocache::cli {
namespace {

constexpr auto value_help =
    "The value; - reads it from standard input (bytes exactly). With --serializer json, "
    "msgpack or cbor it is JSON text (NaN and Infinity accepted)";

struct key_value {
    std::string key;
    std::string value;
};

void print_ok(session& s) {
    if (s.json_output()) {
        session::print_json({{"ok", true}});
    }
}

}  // namespace

void add_set(CLI::App& app, action& out) {
    auto args = std::make_shared<key_value>();
    auto* cmd = app.add_subcommand("set", "Store VALUE under KEY (the TTL is --ttl, else none)");
    cmd->add_option("key", args->key, "The key")->required();
    cmd->add_option("value", args->value, value_help)->required();
    cmd->callback([&out, args] {
        out = [args](session& s) {
            s.write(args->key, s.input(args->value), false);
            print_ok(s);
            return exit_ok;
        };
    });
}

void add_add(CLI::App& app, action& out) {
    auto args = std::make_shared<key_value>();
    auto* cmd = app.add_subcommand(
        "add", "Store VALUE under KEY only if KEY is absent (exit 1 if it exists)");
    cmd->add_option("key", args->key, "The key")->required();
    cmd->add_option("value", args->value, value_help)->required();
    cmd->callback([&out, args] {
        out = [args](session& s) {
            try {
                s.write(args->key, s.input(args->value), true);
            } catch (boost::system::system_error const& e) {
                if (e.code() != errc::key_exists) {
                    throw;
                }
                if (s.json_output()) {
                    session::print_json({{"key", args->key}, {"added", false}});
                } else {
                    std::fprintf(stderr,
                                 "asiocache: add: key '%s' already exists; add stores new keys "
                                 "only (use set to overwrite)\n",
                                 args->key.c_str());
                }
                return exit_miss;
            }
            if (s.json_output()) {
                session::print_json({{"key", args->key}, {"added", true}});
            }
            return exit_ok;
        };
    });
}

void add_mset(CLI::App& app, action& out) {
    auto args = std::make_shared<std::vector<std::string>>();
    auto* cmd = app.add_subcommand(
        "mset", "Store several KEY VALUE pairs in one round trip (the TTL is --ttl)");
    cmd->add_option("pairs", *args, "KEY VALUE [KEY VALUE ...]; one value may be -")->required();
    cmd->callback([&out, args] {
        out = [args](session& s) {
            if (args->size() % 2 != 0) {
                throw usage_error(fmt::format(
                    "mset takes KEY VALUE pairs, but got {} arguments: the last key has no value",
                    args->size()));
            }
            std::vector<std::pair<std::string, std::string>> items;
            for (std::size_t i = 0; i < args->size(); i += 2) {
                items.emplace_back((*args)[i], s.input((*args)[i + 1]));
            }
            s.write_many(items);
            print_ok(s);
            return exit_ok;
        };
    });
}

void add_del(CLI::App& app, action& out) {
    auto keys = std::make_shared<std::vector<std::string>>();
    auto* cmd = app.add_subcommand(
        "del", "Remove keys and print how many were removed (exit 1 if none was)");
    cmd->add_option("keys", *keys, "The keys")->required();
    cmd->callback([&out, keys] {
        out = [keys](session& s) {
            std::size_t removed = 0;
            for (auto const& k : *keys) {
                removed += s.run(s.store().remove(k));
            }
            if (s.json_output()) {
                session::print_json({{"removed", removed}});
            } else {
                std::printf("%zu\n", removed);
            }
            return removed > 0 ? exit_ok : exit_miss;
        };
    });
}

void add_incr(CLI::App& app, action& out) {
    struct incr_args {
        std::string key;
        std::int64_t delta = 1;
    };
    auto args = std::make_shared<incr_args>();
    auto* cmd = app.add_subcommand(
        "incr",
        "Add DELTA (default 1, may be negative) to the integer under KEY, atomically on "
        "the server, and print the new value; a missing key starts at 0");
    cmd->add_option("key", args->key, "The key")->required();
    cmd->add_option("delta", args->delta, "The amount to add");
    cmd->callback([&out, args] {
        out = [args](session& s) {
            auto v = s.run(s.store().increment(args->key, args->delta));
            if (s.json_output()) {
                session::print_json({{"key", args->key}, {"value", v}});
            } else {
                std::printf("%lld\n", static_cast<long long>(v));
            }
            return exit_ok;
        };
    });
}

void add_expire(CLI::App& app, action& out) {
    auto args = std::make_shared<key_value>();
    auto* cmd = app.add_subcommand(
        "expire",
        "Give KEY a new time to live, e.g. 30s or 5m; 0 removes its expiry (exit 1 "
        "if KEY is missing)");
    cmd->add_option("key", args->key, "The key")->required();
    cmd->add_option("ttl", args->value, "The time to live: 250ms, 30s, 5m, 2h, or 0")->required();
    cmd->callback([&out, args] {
        out = [args](session& s) {
            auto ttl = parse_duration(args->value, "ttl");
            bool found = s.run(s.store().expire(args->key, ttl));
            if (s.json_output()) {
                session::print_json({{"key", args->key}, {"exists", found}});
            }
            return found ? exit_ok : exit_miss;
        };
    });
}

}  // namespace asiocache::cli
