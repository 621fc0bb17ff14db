// SPDX-License-Identifier: MIT
#pragma once

/// The whole public API of asiocache's core: the facade, the backend and plugin interfaces,
/// errors and the built-in serializers. Backends have headers of their own under
/// `asiocache/backends/`.
#include "asiocache/backend.hpp"
#include "asiocache/backend_config.hpp"
#include "asiocache/cache.hpp"
#include "asiocache/cached.hpp"
#include "asiocache/errors.hpp"
#include "asiocache/key.hpp"
#include "asiocache/lock.hpp"
#include "asiocache/memo.hpp"
#include "asiocache/metrics.hpp"
#include "asiocache/multi_cached.hpp"
#include "asiocache/plugin.hpp"
#include "asiocache/plugins/hit_miss.hpp"
#include "asiocache/plugins/timing.hpp"
#include "asiocache/registry.hpp"
#include "asiocache/serializer.hpp"
#include "asiocache/serializers.hpp"
#include "asiocache/single_flight.hpp"
#include "asiocache/types.hpp"
#include "asiocache/url.hpp"
#include "asiocache/wake.hpp"
