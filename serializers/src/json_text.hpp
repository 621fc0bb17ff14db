// SPDX-License-Identifier: MIT
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace asiocache::serializers::detail {

/// Compact JSON text. Non-finite floats are written as Python's `json.dumps` writes them
/// (`NaN`, `Infinity`, `-Infinity`) instead of nlohmann's lossy `null`.
auto dump_json_text(nlohmann::json const& doc) -> std::string;

/// How deep a stored document may nest. nlohmann's MsgPack and CBOR readers, copies of a
/// document and our own NaN handling recurse once per level, so a corrupt or hostile payload of
/// a million nested arrays (1 MiB) would overflow the stack; deeper documents are refused.
inline constexpr std::size_t max_document_depth = 512;

/// Parses JSON text, accepting Python's non-finite tokens outside strings.
/// Throws `nlohmann::json::exception` on anything else that is not JSON, and
/// `std::out_of_range` past `max_document_depth`.
auto parse_json_text(std::string_view text) -> nlohmann::json;

/// Parses a document in `format` (JSON text without the non-finite tokens, MsgPack or CBOR),
/// refusing nesting deeper than `max_document_depth`. Throws as nlohmann does, and
/// `std::out_of_range` past the depth limit.
auto parse_bounded(std::string_view bytes, nlohmann::json::input_format_t format)
    -> nlohmann::json;

}  // namespace asiocache::serializers::detail
