// `nuri --version`: the version, and what this binary was built with, for bug reports.
#include <ares.h>
#include <fmt/format.h>
#include <gnu/libc-version.h>
#include <pcap/pcap.h>

#include <CLI/Version.hpp>
#include <string>
#include <toml++/toml.h>

#include "cli/commands.h"

#ifndef NURI_BUILD_TYPE
#define NURI_BUILD_TYPE "unknown"
#endif
#ifndef NURI_BUILD_FLAGS
#define NURI_BUILD_FLAGS ""
#endif

namespace nuri::cli {

namespace {

std::string compiler() {
#if defined(__clang__)
  return fmt::format("clang++ {}.{}.{}", __clang_major__, __clang_minor__, __clang_patchlevel__);
#elif defined(__GNUC__)
  return fmt::format("g++ {}.{}.{}", __GNUC__, __GNUC_MINOR__, __GNUC_PATCHLEVEL__);
#else
  return "an unknown compiler";
#endif
}

std::string sanitizers() {
  // CMake's NURI_SANITIZE (and NURI_FUZZ) turn on ASan and UBSan together (UBSan has no macro);
  // NURI_TSAN turns on ThreadSanitizer.
#if defined(NURI_BUILT_WITH_SANITIZERS)
  return "AddressSanitizer, UndefinedBehaviorSanitizer";
#elif defined(NURI_BUILT_WITH_TSAN)
  return "ThreadSanitizer";
#elif defined(__SANITIZE_ADDRESS__)
  return "AddressSanitizer";
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  return "AddressSanitizer";
#else
  return "none";
#endif
#else
  return "none";
#endif
}

// "X (built against Y)" when the shared library found at run time is not the one compiled against.
std::string with_build_version(const std::string& running, const std::string& built) {
  return running == built ? running : fmt::format("{} (built against {})", running, built);
}

}  // namespace

std::string version_text() {
  std::string flags = NURI_BUILD_FLAGS;
  std::string pcap = pcap_lib_version();  // "libpcap version 1.10.3 (with TPACKET_V3)"
  if (pcap.rfind("libpcap version ", 0) == 0) pcap.erase(0, 16);
  return fmt::format(
      "nuri {}\n"
      "build: {}{}, {}, C++{}\n"
      "sanitizers: {}\n"
      "libraries: c-ares {}, libpcap {}, glibc {}; compiled in: fmt {}.{}.{}, toml++ {}.{}.{}, CLI11 {}",
      NURI_VERSION, NURI_BUILD_TYPE, flags.empty() ? "" : " (" + flags + ")", compiler(),
      __cplusplus / 100 % 100, sanitizers(), with_build_version(ares_version(nullptr), ARES_VERSION_STR), pcap,
      gnu_get_libc_version(), FMT_VERSION / 10000, FMT_VERSION / 100 % 100, FMT_VERSION % 100, TOML_LIB_MAJOR,
      TOML_LIB_MINOR, TOML_LIB_PATCH, CLI11_VERSION);
}

}  // namespace nuri::cli
