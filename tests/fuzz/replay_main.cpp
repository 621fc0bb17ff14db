// SPDX-License-Identifier: MIT
// The driver that turns a fuzz target into a plain regression test: every file in the corpus
// directories (or files) given on the command line goes through LLVMFuzzerTestOneInput once.
// Built with g++ for CI, so no clang or libFuzzer is needed there; a broken property aborts the
// process (fuzz_check.hpp), which fails the ctest entry and names the file being replayed.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size);

namespace {

auto read_file(std::filesystem::path const& p) -> std::vector<std::uint8_t> {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

auto main(int argc, char** argv) -> int {
    std::vector<std::filesystem::path> files;
    for (int i = 1; i < argc; ++i) {
        std::filesystem::path arg = argv[i];
        if (std::filesystem::is_directory(arg)) {
            for (auto const& e : std::filesystem::directory_iterator(arg)) {
                if (e.is_regular_file()) {
                    files.push_back(e.path());
                }
            }
        } else if (std::filesystem::is_regular_file(arg)) {
            files.push_back(arg);
        } else {
            std::fprintf(stderr, "replay: '%s' is neither a file nor a directory\n", argv[i]);
            return 2;
        }
    }
    if (files.empty()) {
        // An empty corpus would make the regression test pass while testing nothing.
        std::fprintf(stderr, "replay: no input files\n");
        return 2;
    }
    // Sorted, so a failure reproduces in the same order on every machine.
    std::sort(files.begin(), files.end());
    for (auto const& f : files) {
        std::fprintf(stderr, "replay: %s\n", f.c_str());
        auto bytes = read_file(f);
        // A copy sized exactly, so ASan catches a read past the end as libFuzzer would.
        std::vector<std::uint8_t> exact(bytes.begin(), bytes.end());
        LLVMFuzzerTestOneInput(exact.empty() ? nullptr : exact.data(), exact.size());
    }
    std::fprintf(stderr, "replay: %zu inputs, all properties held\n", files.size());
    return 0;
}
