// SPDX-License-Identifier: MIT
// Subcommands that read: get, mget, exists, ttl.
#include <cstdio>
#include <memory>

#include "cli.hpp"

namespace asiocache::cli {

void add_get(CLI::App& app, action& out) {
    auto key = std::make_shared<std::string>();
    auto* cmd = app.add_subcommand(
        "get",
        "Print the value of KEY (exit 1 on a miss). Bytes are written exactly; with a "
        "JSON, MsgPack or CBOR serializer the value is printed as JSON.");
    cmd->add_option("key", *key, "The key (the namespace is added)")->required();
    cmd->callback([&out, key] {
        out = [key](session& s) {
            auto v = s.read(*key);
            if (s.json_output()) {
                nlohmann::json doc{{"key", *key}, {"hit", v.has_value()}};
                if (v) {
                    doc["value"] = session::to_json(*v);
                }
                session::print_json(doc);
            } else if (v) {
                session::print_raw(*v);
            }
            return v ? exit_ok : exit_miss;
        };
    });
}

void add_mget(CLI::App& app, action& out) {
    auto keys = std::make_shared<std::vector<std::string>>();
    auto* cmd = app.add_subcommand(
        "mget",
        "Print the values of several keys in one round trip, one line each (an empty "
        "line for a miss; use --json to tell an empty value from a miss). Exit 1 if "
        "any key is missing, 3 if any failed (the others are still printed).");
    cmd->add_option("keys", *keys, "The keys")->required();
    cmd->callback([&out, keys] {
        out = [keys](session& s) {
            std::vector<item_failure> failed;
            auto values = s.read_many(*keys, failed);
            bool all = true;
            nlohmann::json list = nlohmann::json::array();
            std::size_t next_failure = 0;
            for (std::size_t i = 0; i < values.size(); ++i) {
                auto const& v = values[i];
                all = all && v.has_value();
                item_failure const* error = nullptr;
                if (next_failure < failed.size() && failed[next_failure].index == i) {
                    error = &failed[next_failure++];
                }
                if (s.json_output()) {
                    nlohmann::json item{{"key", (*keys)[i]}, {"hit", v.has_value()}};
                    if (v) {
                        item["value"] = session::to_json(*v);
                    }
                    if (error != nullptr) {
                        item["error"] = error->detail;
                    }
                    list.push_back(std::move(item));
                } else if (v && std::holds_alternative<std::string>(*v)) {
                    auto const& bytes = std::get<std::string>(*v);
                    std::fwrite(bytes.data(), 1, bytes.size(), stdout);
                    std::fputc('\n', stdout);
                } else if (v) {
                    session::print_json(std::get<nlohmann::json>(*v));
                } else {
                    std::fputc('\n', stdout);
                }
            }
            if (s.json_output()) {
                session::print_json(list);
            }
            // Keys that failed print as empty lines above, and each is named here.
            for (auto const& f : failed) {
                std::fprintf(stderr, "asiocache: mget '%s': %s\n", (*keys)[f.index].c_str(),
                             f.detail.c_str());
            }
            if (!failed.empty()) {
                return exit_backend;
            }
            return all ? exit_ok : exit_miss;
        };
    });
}

void add_exists(CLI::App& app, action& out) {
    auto key = std::make_shared<std::string>();
    auto* cmd = app.add_subcommand("exists", "Print true if KEY exists, else false (exit 1)");
    cmd->add_option("key", *key, "The key")->required();
    cmd->callback([&out, key] {
        out = [key](session& s) {
            bool found = s.run(s.store().exists(*key));
            if (s.json_output()) {
                session::print_json({{"key", *key}, {"exists", found}});
            } else {
                std::puts(found ? "true" : "false");
            }
            return found ? exit_ok : exit_miss;
        };
    });
}

void add_ttl(CLI::App& app, action& out) {
    auto key = std::make_shared<std::string>();
    auto* cmd = app.add_subcommand(
        "ttl",
        "Print the time KEY has left, in milliseconds, or -1 if it never expires (exit "
        "1 if it is missing). Memcached counts whole seconds.");
    cmd->add_option("key", *key, "The key")->required();
    cmd->callback([&out, key] {
        out = [key](session& s) {
            auto left = s.run(s.store().ttl(*key));
            if (s.json_output()) {
                nlohmann::json doc{{"key", *key}, {"exists", left.has_value()}};
                if (left) {
                    doc["ttl_ms"] = left->is_never() ? nlohmann::json(nullptr)
                                                     : nlohmann::json(left->duration().count());
                }
                session::print_json(doc);
            } else if (left) {
                std::printf("%lld\n", left->is_never()
                                          ? -1LL
                                          : static_cast<long long>(left->duration().count()));
            }
            return left ? exit_ok : exit_miss;
        };
    });
}

}  // namespace asiocache::cli
