// `nuri --version`: the version, and what this binary was built with, for bug reports.
#include <ares.h>
#include <fmt/format.h>
#include <gnu/libc-version.h>
#include <pcap/pcap.h>

#include <CLI/Version.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>
#include <toml++/toml.h>

#include "cli/build_info.h"
#include "cli/commands.h"

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

// "X (built against Y)" when the shared library found at run time is not the one compiled against.
std::string with_build_version(const std::string& running, const std::string& built) {
  return running == built ? running : fmt::format("{} (built against {})", running, built);
}

// What this binary is, for both the text and the JSON of the version.
struct BuildInfo {
  std::string version, build_type, build_flags, compiler, sanitizers;
  int cplusplus = 0;
  std::vector<std::pair<std::string, std::string>> libraries;    // found at run time
  std::vector<std::pair<std::string, std::string>> compiled_in;  // header-only or static
};

BuildInfo build_info() {
  BuildInfo b;
  b.version = NURI_VERSION;
  b.build_type = build_type();
  b.build_flags = build_flags();
  b.compiler = compiler();
  b.cplusplus = static_cast<int>(__cplusplus / 100 % 100);
  b.sanitizers = sanitizers();
  std::string pcap = pcap_lib_version();  // "libpcap version 1.10.3 (with TPACKET_V3)"
  if (pcap.rfind("libpcap version ", 0) == 0) pcap.erase(0, 16);
  b.libraries = {{"c-ares", with_build_version(ares_version(nullptr), ARES_VERSION_STR)},
                 {"libpcap", pcap},
                 {"glibc", gnu_get_libc_version()}};
  b.compiled_in = {{"fmt", fmt::format("{}.{}.{}", FMT_VERSION / 10000, FMT_VERSION / 100 % 100, FMT_VERSION % 100)},
                   {"toml++", fmt::format("{}.{}.{}", TOML_LIB_MAJOR, TOML_LIB_MINOR, TOML_LIB_PATCH)},
                   {"CLI11", CLI11_VERSION}};
  return b;
}

}  // namespace

std::string version_text() {
  const BuildInfo b = build_info();
  auto list = [](const std::vector<std::pair<std::string, std::string>>& items) {
    std::string out;
    for (const auto& [name, version] : items) out += (out.empty() ? "" : ", ") + name + " " + version;
    return out;
  };
  return fmt::format("nuri {}\nbuild: {}{}, {}, C++{}\nsanitizers: {}\nlibraries: {}; compiled in: {}", b.version,
                     b.build_type, b.build_flags.empty() ? "" : " (" + b.build_flags + ")", b.compiler, b.cplusplus,
                     b.sanitizers, list(b.libraries), list(b.compiled_in));
}

std::string version_json() {
  const BuildInfo b = build_info();
  nlohmann::ordered_json j;
  j["version"] = b.version;
  j["build_type"] = b.build_type;
  j["build_flags"] = b.build_flags;
  j["compiler"] = b.compiler;
  j["cplusplus"] = b.cplusplus;
  j["sanitizers"] = b.sanitizers;
  auto object = [](const std::vector<std::pair<std::string, std::string>>& items) {
    nlohmann::ordered_json o = nlohmann::ordered_json::object();
    for (const auto& [name, version] : items) o[name] = version;
    return o;
  };
  j["libraries"] = object(b.libraries);
  j["compiled_in"] = object(b.compiled_in);
  return j.dump(2) + "\n";
}

void VersionCommand::add_to(CLI::App& app) {
  command_ = app.add_subcommand("version", "Print the version and the build, as --version does; --json for scripts");
  command_->add_flag("--json", json_, "One JSON object: version, build_type, build_flags, compiler, cplusplus, "
                                      "sanitizers, libraries, compiled_in");
}

int VersionCommand::run() {
  std::string text = json_ ? version_json() : version_text() + "\n";
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;  // main() checks that stdout took it
}

}  // namespace nuri::cli
