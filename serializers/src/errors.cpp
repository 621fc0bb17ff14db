// SPDX-License-Identifier: MIT
#include "asiocache/errors.hpp"

namespace asiocache {
namespace {

class category final : public boost::system::error_category {
public:
    // A fixed id lets codes compare equal across shared-library boundaries.
    category() noexcept : error_category(0x6a1c'5e0c'ac4e'0001ULL) {}

    auto name() const noexcept -> char const* override { return "asiocache"; }

    auto message(int ev) const -> std::string override {
        switch (static_cast<errc>(ev)) {
            case errc::timeout: return "operation timed out";
            case errc::key_exists: return "key already exists";
            case errc::backend_unavailable: return "backend unavailable";
            case errc::protocol_error: return "protocol error";
            case errc::backend_error: return "backend error";
            case errc::serialization_failed: return "serialization failed";
            case errc::invalid_key: return "invalid key";
            case errc::value_too_large: return "value too large";
            case errc::not_a_number: return "value is not an integer";
            case errc::not_supported: return "operation not supported by this backend";
            case errc::invalid_argument: return "invalid argument";
            case errc::cas_mismatch: return "compare-and-set mismatch";
            case errc::lock_not_acquired: return "lock not acquired";
            case errc::unknown_backend: return "unknown backend";
            case errc::unknown_alias: return "unknown cache alias";
            case errc::invalid_config: return "invalid configuration";
            case errc::closed: return "cache is closed";
        }
        return "unknown asiocache error";
    }
};

}  // namespace

auto to_string(errc e) noexcept -> std::string_view {
    switch (e) {
        case errc::timeout: return "timeout";
        case errc::key_exists: return "key_exists";
        case errc::backend_unavailable: return "backend_unavailable";
        case errc::protocol_error: return "protocol_error";
        case errc::backend_error: return "backend_error";
        case errc::serialization_failed: return "serialization_failed";
        case errc::invalid_key: return "invalid_key";
        case errc::value_too_large: return "value_too_large";
        case errc::not_a_number: return "not_a_number";
        case errc::not_supported: return "not_supported";
        case errc::invalid_argument: return "invalid_argument";
        case errc::cas_mismatch: return "cas_mismatch";
        case errc::lock_not_acquired: return "lock_not_acquired";
        case errc::unknown_backend: return "unknown_backend";
        case errc::unknown_alias: return "unknown_alias";
        case errc::invalid_config: return "invalid_config";
        case errc::closed: return "closed";
    }
    return {};
}

auto cache_category() noexcept -> boost::system::error_category const& {
    static category const instance;
    return instance;
}

void throw_error(errc e, std::string const& detail) {
    throw boost::system::system_error(make_error_code(e), detail);
}

}  // namespace asiocache
