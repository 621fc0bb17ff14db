// SPDX-License-Identifier: MIT
#include "asiocache/serializer.hpp"

namespace asiocache {

auto serializer::dump(nlohmann::json const& /*doc*/) const -> std::string {
    throw_error(errc::not_supported,
                fmt::format("serializer '{}' does not write structured documents", name()));
}

auto serializer::parse(std::string_view /*bytes*/) const -> nlohmann::json {
    throw_error(errc::not_supported,
                fmt::format("serializer '{}' does not read structured documents", name()));
}

namespace detail {

void throw_unrepresentable(std::string_view serializer, std::string_view key,
                           std::string_view why) {
    throw_error(errc::serialization_failed,
                fmt::format("key '{}': {} serializer: {}", key, serializer, why));
}

}  // namespace detail
}  // namespace asiocache
