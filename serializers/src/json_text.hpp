// SPDX-License-Identifier: MIT
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace asiocache::serializers::detail {

/// Compact JSON text. Non-finite floats are written as Python's `json.dumps` writes them
/// (`NaN`, `Infinity`, `-Infinity`) instead of nlohmann's lossy `null`.
auto dump_json_text(nlohmann::json const& doc) -> std::string;

/// Parses JSON text, accepting Python's non-finite tokens outside strings.
/// Throws `nlohmann::json::exception` on anything else that is not JSON.
auto parse_json_text(std::string_view text) -> nlohmann::json;

}  // namespace asiocache::serializers::detail
