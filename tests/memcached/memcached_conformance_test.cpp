// SPDX-License-Identifier: MIT
// The shared conformance suite on real memcached servers, with namespace generations on (so that
// clear(namespace) is exercised): one server, then two servers sharing the keyspace (ketama)
// with two pipelined connections each.
#include "conformance/conformance_suite.hpp"
#include "memcached_env.hpp"

namespace asiocache::test {

using memcached_envs = ::testing::Types<memcached_env, memcached_pair_env>;
INSTANTIATE_TYPED_TEST_SUITE_P(memcached, conformance, memcached_envs);

}  // namespace asiocache::test
