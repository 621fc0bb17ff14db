// SPDX-License-Identifier: MIT
// The shared conformance suite on a real memcached, with namespace generations on (so that
// clear(namespace) is exercised), over the text and the binary protocol.
#include "conformance/conformance_suite.hpp"
#include "memcached_env.hpp"

namespace asiocache::test {

using memcached_envs = ::testing::Types<memcached_env, memcached_binary_env>;
INSTANTIATE_TYPED_TEST_SUITE_P(memcached, conformance, memcached_envs);

}  // namespace asiocache::test
