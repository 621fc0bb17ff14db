// SPDX-License-Identifier: MIT
#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <iterator>

#include "asiocache/backends/builtin.hpp"
#include "cli.hpp"

namespace asiocache::cli {
namespace {

auto base64(std::string_view in) -> std::string {
    static constexpr char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((in.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        auto n = (static_cast<unsigned>(static_cast<unsigned char>(in[i])) << 16U) |
                 (static_cast<unsigned>(static_cast<unsigned char>(in[i + 1])) << 8U) |
                 static_cast<unsigned>(static_cast<unsigned char>(in[i + 2]));
        out += alphabet[(n >> 18U) & 63U];
        out += alphabet[(n >> 12U) & 63U];
        out += alphabet[(n >> 6U) & 63U];
        out += alphabet[n & 63U];
    }
    if (auto rest = in.size() - i; rest > 0) {
        auto n = static_cast<unsigned>(static_cast<unsigned char>(in[i])) << 16U;
        if (rest == 2) {
            n |= static_cast<unsigned>(static_cast<unsigned char>(in[i + 1])) << 8U;
        }
        out += alphabet[(n >> 18U) & 63U];
        out += alphabet[(n >> 12U) & 63U];
        out += rest == 2 ? alphabet[(n >> 6U) & 63U] : '=';
        out += '=';
    }
    return out;
}

// The start of a value, for messages.
auto excerpt(std::string_view text) -> std::string {
    constexpr std::size_t limit = 40;
    return text.size() <= limit ? std::string(text) : std::string(text.substr(0, limit)) + "...";
}

void write_stdout(std::string_view bytes) { std::fwrite(bytes.data(), 1, bytes.size(), stdout); }

}  // namespace

session::session(global_options const& g) : json_(g.json) {
    registry caches(io_.get_executor());
    backends::register_builtin(caches);
    if (g.target.find("://") == std::string::npos) {
        // Not a URL: an alias of a config file (--config, else ASIOCACHE_CONFIG).
        if (!g.config.empty()) {
            caches.load_config_file(g.config);
        } else {
            caches.load_environment();
        }
        config_ = caches.config(g.target);
    } else {
        config_ = parse_url(g.target).value();
    }
    auto& opts = config_.options;
    if (!g.serializer.empty()) {
        opts.serializer = serializers::by_name(g.serializer);
    } else if (!opts.serializer) {
        // What is typed is what is stored: the tool's default is bytes, not the library's json.
        opts.serializer = serializers::bytes();
    }
    if (!g.ns.empty()) {
        opts.ns = g.ns;
    }
    if (!g.ttl.empty()) {
        opts.ttl = parse_duration(g.ttl, "--ttl");
    }
    if (!g.timeout.empty()) {
        opts.timeout = parse_duration(g.timeout, "--timeout");
    }
    cache_.emplace(caches.make_cache(config_));
}

auto session::make_cache(cache_config cfg) -> cache {
    registry caches(io_.get_executor());
    backends::register_builtin(caches);
    return caches.make_cache(std::move(cfg));
}

session::~session() {
    try {
        run(cache_->close());
    } catch (std::exception const&) {
        // Nothing to report: the command's own result is already out.
    }
}

auto session::structured() const -> bool {
    return cache_->value_serializer().kind() == serializer_kind::structured;
}

auto session::input(std::string const& arg) -> std::string {
    if (arg != "-") {
        return arg;
    }
    if (stdin_used_) {
        throw usage_error("only one value can come from standard input ('-')");
    }
    stdin_used_ = true;
    std::cin >> std::noskipws;
    return {std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
}

auto session::parse_input(std::string const& text) const -> nlohmann::json {
    try {
        return serializers::json()->parse(text);
    } catch (std::exception const&) {
        throw usage_error(fmt::format(
            "value '{}' is not JSON, which --serializer {} needs: quote text as '\"text\"', or "
            "use --serializer bytes to store it as it is",
            excerpt(text), cache_->value_serializer().name()));
    }
}

void session::write(std::string key, std::string const& text, bool only_if_absent) {
    auto& c = *cache_;
    if (structured()) {
        auto doc = parse_input(text);
        if (only_if_absent) {
            run(c.add(std::move(key), std::move(doc)));
        } else {
            run(c.set(std::move(key), std::move(doc)));
        }
    } else if (only_if_absent) {
        run(c.add(std::move(key), text));
    } else {
        run(c.set(std::move(key), text));
    }
}

void session::write_many(std::vector<std::pair<std::string, std::string>> const& items) {
    if (structured()) {
        std::vector<std::pair<std::string, nlohmann::json>> docs;
        for (auto const& [k, v] : items) {
            docs.emplace_back(k, parse_input(v));
        }
        run(cache_->multi_set(std::move(docs)));
    } else {
        run(cache_->multi_set(items));
    }
}

// The conversions below avoid `cond ? optional(x) : nullopt`, which g++ 12 flags as
// maybe-uninitialized for a variant holding nlohmann::json.
namespace {
template <class T>
void append(std::vector<std::optional<value>>& out, std::optional<T>&& v) {
    if (v) {
        out.emplace_back(std::in_place, std::move(*v));
    } else {
        out.emplace_back(std::nullopt);
    }
}
}  // namespace

auto session::read(std::string key) -> std::optional<value> {
    std::vector<std::optional<value>> out;
    if (structured()) {
        append(out, run(cache_->get<nlohmann::json>(std::move(key))));
    } else {
        append(out, run(cache_->get<std::string>(std::move(key))));
    }
    return std::move(out.front());
}

auto session::read_many(std::vector<std::string> keys, std::vector<item_failure>& failed)
    -> std::vector<std::optional<value>> {
    std::vector<std::optional<value>> out;
    auto read_as = [&]<class T>(std::type_identity<T>) {
        std::vector<std::optional<T>> values;
        try {
            values = run(cache_->multi_get<T>(std::move(keys)));
        } catch (partial_values<T> const& p) {
            values = p.typed_values();
            failed = p.failed();
        }
        for (auto& v : values) {
            append(out, std::move(v));
        }
    };
    if (structured()) {
        read_as(std::type_identity<nlohmann::json>{});
    } else {
        read_as(std::type_identity<std::string>{});
    }
    return out;
}

void session::print_raw(value const& v) {
    if (auto const* bytes = std::get_if<std::string>(&v)) {
        write_stdout(*bytes);
        // Exact bytes in pipes and files; a terminal gets a tidy line.
        if (::isatty(STDOUT_FILENO) != 0 && (bytes->empty() || bytes->back() != '\n')) {
            write_stdout("\n");
        }
        return;
    }
    print_json(std::get<nlohmann::json>(v));
}

auto session::to_json(value const& v) -> nlohmann::json {
    if (auto const* doc = std::get_if<nlohmann::json>(&v)) {
        return *doc;
    }
    auto const& bytes = std::get<std::string>(v);
    nlohmann::json text = bytes;
    try {
        (void)text.dump();  // throws on bytes that are not UTF-8
        return text;
    } catch (nlohmann::json::type_error const&) {
        return {{"base64", base64(bytes)}};
    }
}

void session::print_json(nlohmann::json const& doc) {
    write_stdout(serializers::json()->dump(doc));
    write_stdout("\n");
}

}  // namespace asiocache::cli
