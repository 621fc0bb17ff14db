// SPDX-License-Identifier: MIT
#pragma once

#include "asiocache/serializer.hpp"

#include <memory>
#include <string_view>

/// The built-in serializers. Each is stateless; the functions return shared instances.
namespace asiocache::serializers {

/// Values are their own bytes, stored exactly (aiocache's NullSerializer for `bytes`).
auto bytes() -> std::shared_ptr<serializer const>;
/// Text values as they are, numbers as decimal text (aiocache's StringSerializer).
auto string() -> std::shared_ptr<serializer const>;
/// JSON text (aiocache's JsonSerializer). Reads what Python's `json.dumps` writes, including
/// `NaN`, `Infinity` and `-Infinity`, and writes those the same way. Standard types and
/// Boost.Describe structs skip the `nlohmann::json` document: they are written and read
/// directly, to the same bytes (`asiocache/detail/typed_json.hpp`).
auto json() -> std::shared_ptr<serializer const>;
/// MsgPack, through nlohmann-json: the same `to_json`/`from_json` hooks as `json()`.
auto msgpack() -> std::shared_ptr<serializer const>;
/// CBOR (RFC 8949), through nlohmann-json.
auto cbor() -> std::shared_ptr<serializer const>;

/// No serializer: the cache keeps the C++ objects themselves (aiocache's SimpleMemoryCache),
/// so a hit costs no decode. Only for backends that keep objects: `memory://`, where it is
/// the default, and a tiered cache's L1 (which keeps objects whatever the L2's serializer).
auto none() -> std::shared_ptr<serializer const>;

/// The built-in serializer of that name ("bytes", "string", "json", "msgpack", "cbor",
/// "none"), or `nullptr`.
auto by_name(std::string_view name) -> std::shared_ptr<serializer const>;

}  // namespace asiocache::serializers
