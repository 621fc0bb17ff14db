// SPDX-License-Identifier: MIT
#pragma once

/// The whole public API of asiocache's core: the facade, the backend and plugin interfaces,
/// errors and the built-in serializers. Backends have headers of their own under
/// `asiocache/backends/`.
#include "asiocache/backend.hpp"
#include "asiocache/backend_config.hpp"
#include "asiocache/cache.hpp"
#include "asiocache/errors.hpp"
#include "asiocache/plugin.hpp"
#include "asiocache/registry.hpp"
#include "asiocache/serializer.hpp"
#include "asiocache/serializers.hpp"
#include "asiocache/types.hpp"
#include "asiocache/url.hpp"
