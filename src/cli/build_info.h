#pragma once
// What CMake says about this build (type, flags, sanitizers), compiled from build_info.cpp: the
// one file that gets those macros, so that every other file of the command line has the same
// flags in every build type (a shared ccache) and can be part of the unity build.
#include <string_view>

namespace nuri::cli {

/// CMAKE_BUILD_TYPE ("Release", ...), or "unknown" when CMake did not say.
std::string_view build_type();
/// The compile flags of that build type, as CMake put them on the command line.
std::string_view build_flags();
/// The sanitizers this binary was built with, "none" for none.
std::string_view sanitizers();

}  // namespace nuri::cli
