// SPDX-License-Identifier: MIT
#include "asiocache/serializers.hpp"

#include "json_text.hpp"

#include <cstdint>
#include <vector>

namespace asiocache::detail {
struct builtin_json_key {};
}  // namespace asiocache::detail

namespace asiocache::serializers {
namespace {

class bytes_serializer final : public serializer {
public:
    auto name() const noexcept -> std::string_view override { return "bytes"; }
    auto kind() const noexcept -> serializer_kind override { return serializer_kind::bytes; }
};

class none_serializer final : public serializer {
public:
    auto name() const noexcept -> std::string_view override { return "none"; }
    auto kind() const noexcept -> serializer_kind override { return serializer_kind::objects; }
};

class string_serializer final : public serializer {
public:
    auto name() const noexcept -> std::string_view override { return "string"; }
    auto kind() const noexcept -> serializer_kind override { return serializer_kind::string; }
};

class json_serializer final : public serializer {
public:
    json_serializer() : serializer(asiocache::detail::builtin_json_key{}) {}
    auto name() const noexcept -> std::string_view override { return "json"; }
    auto kind() const noexcept -> serializer_kind override { return serializer_kind::structured; }
    auto dump(nlohmann::json const& doc) const -> std::string override {
        return detail::dump_json_text(doc);
    }
    auto parse(std::string_view bytes) const -> nlohmann::json override {
        return detail::parse_json_text(bytes);
    }
};

class msgpack_serializer final : public serializer {
public:
    auto name() const noexcept -> std::string_view override { return "msgpack"; }
    auto kind() const noexcept -> serializer_kind override { return serializer_kind::structured; }
    auto dump(nlohmann::json const& doc) const -> std::string override {
        std::string out;
        nlohmann::json::to_msgpack(doc, nlohmann::detail::output_adapter<char>(out));
        return out;
    }
    auto parse(std::string_view bytes) const -> nlohmann::json override {
        return detail::parse_bounded(bytes, nlohmann::json::input_format_t::msgpack);
    }
};

class cbor_serializer final : public serializer {
public:
    auto name() const noexcept -> std::string_view override { return "cbor"; }
    auto kind() const noexcept -> serializer_kind override { return serializer_kind::structured; }
    auto dump(nlohmann::json const& doc) const -> std::string override {
        std::string out;
        nlohmann::json::to_cbor(doc, nlohmann::detail::output_adapter<char>(out));
        return out;
    }
    auto parse(std::string_view bytes) const -> nlohmann::json override {
        return detail::parse_bounded(bytes, nlohmann::json::input_format_t::cbor);
    }
};

template <class S>
auto shared() -> std::shared_ptr<serializer const> {
    static auto const instance = std::make_shared<S const>();
    return instance;
}

}  // namespace

auto bytes() -> std::shared_ptr<serializer const> { return shared<bytes_serializer>(); }
auto none() -> std::shared_ptr<serializer const> { return shared<none_serializer>(); }
auto string() -> std::shared_ptr<serializer const> { return shared<string_serializer>(); }
auto json() -> std::shared_ptr<serializer const> { return shared<json_serializer>(); }
auto msgpack() -> std::shared_ptr<serializer const> { return shared<msgpack_serializer>(); }
auto cbor() -> std::shared_ptr<serializer const> { return shared<cbor_serializer>(); }

auto by_name(std::string_view name) -> std::shared_ptr<serializer const> {
    if (name == "bytes") return bytes();
    if (name == "string") return string();
    if (name == "json") return json();
    if (name == "msgpack") return msgpack();
    if (name == "cbor") return cbor();
    if (name == "none") return none();
    return nullptr;
}

}  // namespace asiocache::serializers
