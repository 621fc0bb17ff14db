// SPDX-License-Identifier: MIT
#include "asiocache/types.hpp"

namespace asiocache {
namespace {

class steady_source final : public time_source {
public:
    auto now() const noexcept -> clock::time_point override { return clock::now(); }
};

}  // namespace

auto steady_time_source() -> std::shared_ptr<time_source const> {
    static auto const instance = std::make_shared<steady_source const>();
    return instance;
}

}  // namespace asiocache
