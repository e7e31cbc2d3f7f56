// The request parser on real request heads (bench/parser/corpus/: the bytes Chromium, curl,
// wget and Python's urllib sent to a socket on this machine; see bench/parser/README.md).
// Reports bytes/s and requests/s per corpus file, for the whole corpus in turn, and for a head
// that arrives in two reads (the resumable path). `make bench-parser` builds and runs it.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "http/parser.h"

namespace {

struct Sample {
  std::string name;
  std::string bytes;
};

std::vector<Sample> load_corpus(const std::filesystem::path& dir) {
  std::vector<Sample> samples;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".http") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    samples.push_back({entry.path().stem().string(),
                       std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>())});
  }
  std::sort(samples.begin(), samples.end(), [](const Sample& a, const Sample& b) { return a.name < b.name; });
  return samples;
}

// Parses one head; a head the parser refuses would make the figures meaningless, so it stops.
void expect_complete(const nuri::http::ParseResult& r, const std::string& name, std::size_t size) {
  if (r.state != nuri::http::ParseState::complete || r.consumed != size) {
    std::fprintf(stderr, "parser_bench: %s did not parse as one complete head\n", name.c_str());
    std::exit(1);
  }
}

void parse_one(benchmark::State& state, const Sample& sample) {
  nuri::http::RequestParser parser;
  nuri::http::Request request;
  expect_complete(parser.parse(sample.bytes, request), sample.name, sample.bytes.size());
  for (auto _ : state) {
    auto r = parser.parse(sample.bytes, request);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(request.header_count);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * sample.bytes.size()));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void parse_mix(benchmark::State& state, const std::vector<Sample>& samples) {
  nuri::http::RequestParser parser;
  nuri::http::Request request;
  std::size_t bytes = 0;
  for (const auto& s : samples) bytes += s.bytes.size();
  for (auto _ : state) {
    for (const auto& s : samples) {
      auto r = parser.parse(s.bytes, request);
      benchmark::DoNotOptimize(r);
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * samples.size()));
}

// The head in two reads, split in the middle: the second call resumes where the first stopped.
void parse_split(benchmark::State& state, const Sample& sample) {
  nuri::http::RequestParser parser;
  nuri::http::Request request;
  std::string_view all = sample.bytes;
  std::string_view first = all.substr(0, all.size() / 2);
  for (auto _ : state) {
    auto partial = parser.parse(first, request);
    benchmark::DoNotOptimize(partial);
    auto r = parser.parse(all, request);
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * sample.bytes.size()));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

}  // namespace

int main(int argc, char** argv) {
  std::filesystem::path dir = NURI_PARSER_CORPUS;
  if (const char* env = std::getenv("NURI_PARSER_CORPUS")) dir = env;
  static const std::vector<Sample> samples = load_corpus(dir);
  if (samples.empty()) {
    std::fprintf(stderr, "parser_bench: no .http files in %s\n", dir.c_str());
    return 1;
  }
  for (const auto& s : samples) {
    benchmark::RegisterBenchmark(("parse/" + s.name).c_str(), parse_one, s);
  }
  benchmark::RegisterBenchmark("parse/all-in-turn", parse_mix, samples);
  const auto& largest = *std::max_element(samples.begin(), samples.end(), [](const Sample& a, const Sample& b) {
    return a.bytes.size() < b.bytes.size();
  });
  benchmark::RegisterBenchmark(("parse-in-two-reads/" + largest.name).c_str(), parse_split, largest);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
