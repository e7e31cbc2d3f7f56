#include "cli/build_info.h"

#ifndef NURI_BUILD_TYPE
#define NURI_BUILD_TYPE "unknown"
#endif
#ifndef NURI_BUILD_FLAGS
#define NURI_BUILD_FLAGS ""
#endif

namespace nuri::cli {

std::string_view build_type() { return NURI_BUILD_TYPE; }

std::string_view build_flags() { return NURI_BUILD_FLAGS; }

std::string_view sanitizers() {
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

}  // namespace nuri::cli
