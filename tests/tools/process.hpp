// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace asiocache::test {

/// What a finished child process left behind.
struct process_result {
    int exit_code = -1;  ///< The exit status; 128 + signal if killed; -1 if it hung and was killed.
    std::string out;     ///< Everything it wrote to standard output, byte for byte.
    std::string err;     ///< Everything it wrote to standard error.
};

/// A signal sent to the child once it has run for `after` (a user's Ctrl-C); `sig` 0: none.
struct signal_plan {
    int sig = 0;
    std::chrono::milliseconds after{0};
};

/// Runs `argv` (argv[0] is a path, not searched in PATH) with `input` on its standard input,
/// capturing its output. `env` adds or replaces environment variables ("NAME=value") or removes
/// them ("NAME"). A child still running after `limit` is killed (a hang is a test failure,
/// never a stuck test). `plan`'s signal is sent to it once, if it is still running by then.
auto run_process(std::vector<std::string> const& argv, std::string const& input = {},
                 std::vector<std::string> const& env = {},
                 std::chrono::milliseconds limit = std::chrono::seconds(20), signal_plan plan = {})
    -> process_result;

}  // namespace asiocache::test
