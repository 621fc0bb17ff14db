# SPDX-License-Identifier: MIT
# Shared helpers: warnings, sanitizers, component libraries and tests.

# Warnings are PRIVATE to our own targets; consumers never inherit them.
add_library(asiocache_warnings INTERFACE)
target_compile_options(asiocache_warnings INTERFACE
    -Wall -Wextra -Wpedantic -Wshadow -Wold-style-cast -Wcast-align
    -Wunused -Woverloaded-virtual -Wno-missing-field-initializers
    # g++ 12 reports false overlaps in std::string copies at -O2 (GCC PR 105651).
    -Wno-restrict -Wimplicit-fallthrough
    $<$<BOOL:${ASIOCACHE_WERROR}>:-Werror>)

function(asiocache_setup_sanitizers)
    if(ASIOCACHE_SANITIZE STREQUAL "")
        return()
    endif()
    set(flags -fsanitize=${ASIOCACHE_SANITIZE} -fno-omit-frame-pointer)
    if(ASIOCACHE_SANITIZE MATCHES "undefined")
        list(APPEND flags -fno-sanitize-recover=undefined)
    endif()
    if(ASIOCACHE_SANITIZE MATCHES "thread")
        # Asio's atomic_thread_fence use makes g++ 12 warn under TSan; the warning is noise here.
        list(APPEND flags -Wno-tsan)
    endif()
    add_compile_options(${flags})
    add_link_options(-fsanitize=${ASIOCACHE_SANITIZE})
endfunction()

# asiocache_add_component(<name> SOURCES ... [PUBLIC_DEPS ...] [PRIVATE_DEPS ...])
# Creates the library asiocache_<name>, the alias asiocache::<name>, and registers it for the
# umbrella target and the export set. Public headers live in <dir>/include.
function(asiocache_add_component name)
    cmake_parse_arguments(arg "" "" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
    set(target asiocache_${name})
    if(arg_SOURCES)
        add_library(${target} ${arg_SOURCES})
        set(scope PUBLIC)
    else()
        add_library(${target} INTERFACE)
        set(scope INTERFACE)
    endif()
    add_library(asiocache::${name} ALIAS ${target})
    set_target_properties(${target} PROPERTIES EXPORT_NAME ${name} POSITION_INDEPENDENT_CODE ON)
    target_compile_features(${target} ${scope} cxx_std_20)
    target_include_directories(${target} ${scope}
        $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
        $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
    target_link_libraries(${target} ${scope} ${arg_PUBLIC_DEPS})
    if(arg_SOURCES)
        target_link_libraries(${target} PRIVATE ${arg_PRIVATE_DEPS} $<BUILD_INTERFACE:asiocache_warnings>)
    endif()
    set_property(GLOBAL APPEND PROPERTY ASIOCACHE_COMPONENT_TARGETS ${target})
    set_property(GLOBAL APPEND PROPERTY ASIOCACHE_EXPORTED_TARGETS ${target})
    set_property(GLOBAL APPEND PROPERTY ASIOCACHE_INCLUDE_DIRS ${CMAKE_CURRENT_SOURCE_DIR}/include)
endfunction()

# asiocache_add_test(<name> SOURCES ... LABELS ... [LIBS ...] [TIMEOUT s] [ONE_PROCESS])
# One GoogleTest binary per test file group; every test case becomes its own ctest entry.
function(asiocache_add_test name)
    cmake_parse_arguments(arg "ONE_PROCESS" "TIMEOUT" "SOURCES;LABELS;LIBS" ${ARGN})
    add_executable(${name} ${arg_SOURCES})
    target_link_libraries(${name} PRIVATE asiocache_test_support ${arg_LIBS}
        GTest::gtest_main GTest::gmock asiocache_warnings)
    # The test code itself compiles at -O1 in Release: the library under test keeps -O3, and
    # code generation, most of these coroutine-heavy sources' compile time, takes a third less.
    # At -O1 g++ 12 reports two false positives inside Asio: its coroutine frames' operator new
    # (aligned_alloc) paired with the wrong deallocation function, and vectors in co_spawn's
    # binders "maybe uninitialized". Both stay on for these sources in the sanitizer builds
    # (-Og), which compile every test too.
    if(ASIOCACHE_TEST_OPTIMIZATION)
        target_compile_options(${name} PRIVATE
            "$<$<CONFIG:Release>:${ASIOCACHE_TEST_OPTIMIZATION};-Wno-mismatched-new-delete;-Wno-maybe-uninitialized>")
    endif()
    if(NOT arg_TIMEOUT)
        set(arg_TIMEOUT 120)
    endif()
    # Binaries labelled "threads" also join `asiocache_threads_tests`, the only tests the TSan
    # build compiles and runs (tools/test.sh), which keeps that build short.
    if("threads" IN_LIST arg_LABELS)
        if(NOT TARGET asiocache_threads_tests)
            add_custom_target(asiocache_threads_tests)
        endif()
        add_dependencies(asiocache_threads_tests ${name})
    endif()
    # ONE_PROCESS: the whole binary is one ctest entry, for tests that share an expensive
    # fixture (a Redis Cluster of six servers) that one process per test case would rebuild.
    if(arg_ONE_PROCESS)
        add_test(NAME ${name} COMMAND ${name})
        set_tests_properties(${name} PROPERTIES TIMEOUT ${arg_TIMEOUT} LABELS "${arg_LABELS}")
        return()
    endif()
    gtest_discover_tests(${name}
        DISCOVERY_TIMEOUT 60
        PROPERTIES TIMEOUT ${arg_TIMEOUT})
    # CMake 3.25's discovery script flattens list values in PROPERTIES, so "unit;registry" would
    # become a label "unit" and a bogus property "registry". Set the labels from a script that
    # ctest includes after the discovered tests, through the list discovery leaves behind.
    set(labels_script ${CMAKE_CURRENT_BINARY_DIR}/${name}_labels.cmake)
    file(WRITE ${labels_script}
        "if(${name}_TESTS)\n"
        "  set_tests_properties(\${${name}_TESTS} PROPERTIES LABELS \"${arg_LABELS}\")\n"
        "endif()\n")
    set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${labels_script})
endfunction()
