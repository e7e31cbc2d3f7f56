// libFuzzer target for app::json_depth, the flat scan that guards nlohmann::json::parse against
// deep nesting, and app::json_refused_unparsed, the whole check (src/app/json_depth.cpp). The
// body handling in src/app/server.cpp refuses a text that holds a NUL or whose scanned depth is
// above kMaxJsonDepth, and hands any other to nlohmann. Checked here:
//  - nothing crashes, neither the scan nor nlohmann on what the scan lets through;
//  - for every text nlohmann accepts, the scan's depth is the true depth, counted independently
//    by nlohmann's SAX events (an iterative parser: no recursion however deep the text). So a
//    valid document is refused exactly when it is deeper than the limit, and one within the
//    limit always reaches nlohmann;
//  - a text the scan lets through parses into a value no deeper than the scan said.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "app/json_depth.h"

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "json_depth_fuzz: invariant broken: %s\n", what);
    std::abort();
  }
}

// Counts the deepest nesting from nlohmann's SAX events; parse errors make the text invalid.
struct DepthCounter : nlohmann::json_sax<nlohmann::json> {
  std::size_t depth = 0;
  std::size_t deepest = 0;
  bool open() {
    deepest = std::max(deepest, ++depth);
    return true;
  }
  bool close() {
    --depth;
    return true;
  }
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return open(); }
  bool key(string_t&) override { return true; }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(); }
  bool end_array() override { return close(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }
};

// Depth of a parsed value: recursion is safe here, the scan bounded it by kMaxJsonDepth.
std::size_t value_depth(const nlohmann::json& v) {
  if (!v.is_array() && !v.is_object()) return 0;
  std::size_t deepest = 0;
  for (const auto& element : v) deepest = std::max(deepest, value_depth(element));
  return deepest + 1;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::size_t scanned = nuri::app::json_depth(text);

  const bool refused = nuri::app::json_refused_unparsed(text);
  const bool has_nul = text.find('\0') != std::string_view::npos;
  require(refused == (has_nul || scanned > nuri::app::kMaxJsonDepth), "refused: NUL or too deep");
  // nlohmann reads a NUL byte as the end of the text (so "1<NUL>{" would be valid JSON to it);
  // RFC 8259 allows none, and nuri refuses such a body before nlohmann sees it.
  if (has_nul) return 0;

  DepthCounter counter;
  const bool valid = nlohmann::json::sax_parse(text, &counter, nlohmann::json::input_format_t::json,
                                               /*strict=*/true, /*ignore_comments=*/false);
  if (valid) require(scanned == counter.deepest, "scan depth equals the SAX depth of valid JSON");

  if (refused) return 0;  // as server.cpp does
  // What server.cpp does with a text within the limit.
  const nlohmann::json value = nlohmann::json::parse(text, nullptr, false);
  require(value.is_discarded() != valid, "DOM and SAX parses agree on validity");
  // At most the scan's: a repeated object key keeps only its last value, which may be shallower
  // than an earlier one (the SAX check above is the exact one).
  if (!value.is_discarded()) require(value_depth(value) <= scanned, "parsed depth within the scan's");
  return 0;
}
