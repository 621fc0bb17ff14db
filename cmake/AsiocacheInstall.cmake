# SPDX-License-Identifier: MIT
# Install and export rules, after fmt: only */include/asiocache is installed, and a downstream
# find_package(asiocache) gets the asiocache:: targets with their dependencies found again.
include(CMakePackageConfigHelpers)

get_property(asiocache_targets GLOBAL PROPERTY ASIOCACHE_EXPORTED_TARGETS)
get_property(asiocache_include_dirs GLOBAL PROPERTY ASIOCACHE_INCLUDE_DIRS)
list(REMOVE_DUPLICATES asiocache_include_dirs)

install(TARGETS asiocache_warnings EXPORT asiocache-targets)
install(TARGETS ${asiocache_targets} EXPORT asiocache-targets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
    RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
    INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
foreach(dir IN LISTS asiocache_include_dirs)
    install(DIRECTORY ${dir}/asiocache DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
endforeach()

set(config_dir ${CMAKE_INSTALL_LIBDIR}/cmake/asiocache)
install(EXPORT asiocache-targets NAMESPACE asiocache:: DESTINATION ${config_dir})
export(EXPORT asiocache-targets NAMESPACE asiocache::
    FILE ${PROJECT_BINARY_DIR}/asiocache-targets.cmake)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/asiocache-config.cmake.in
    ${PROJECT_BINARY_DIR}/asiocache-config.cmake INSTALL_DESTINATION ${config_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/asiocache-config-version.cmake
    COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/asiocache-config.cmake
    ${PROJECT_BINARY_DIR}/asiocache-config-version.cmake DESTINATION ${config_dir})
