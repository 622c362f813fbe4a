// Exact cosine index (orchard's CosineIndex: Faiss IndexFlatIP) on synthetic rows: build time, queries/s and
// peak memory. Built with the project (target orchard_index_bench); bench/index_bench.py runs it at 1x and
// 10x the sample's size:
//
//   build/orchard_index_bench ROWS DIM QUERIES K
//
// Prints one JSON line: rows, dim, queries, k, build_seconds, queries_per_second, max_rss_mib.

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "orchard/index/cosine_index.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kAddBlock = 1024;  // rows added at a time, as `orchard index` adds a Parquet batch

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::vector<float> RandomRows(std::size_t n, std::size_t dim, std::mt19937& generator) {
  std::normal_distribution<float> normal;
  std::vector<float> rows(n * dim);
  for (auto& value : rows) value = normal(generator);
  return rows;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s ROWS DIM QUERIES K\n", argv[0]);
    return 2;
  }
  const std::size_t rows = std::stoul(argv[1]), dim = std::stoul(argv[2]), queries = std::stoul(argv[3]),
                    k = std::stoul(argv[4]);
  std::mt19937 generator(7);
  orchard::CosineIndex index(dim);
  index.Reserve(rows);
  const std::vector<std::string> paths(kAddBlock, "synthetic"), labels(kAddBlock, "label");
  const auto start = Clock::now();
  for (std::size_t added = 0; added < rows; added += kAddBlock) {
    const std::size_t n = std::min(kAddBlock, rows - added);
    const auto block = RandomRows(n, dim, generator);
    index.Add({block, dim}, {paths.data(), n}, {labels.data(), n});
  }
  const double build = SecondsSince(start);
  const auto query_rows = RandomRows(queries, dim, generator);
  const auto query_start = Clock::now();
  const auto found = index.Search(query_rows, queries, k);
  const double search = SecondsSince(query_start);
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::printf(
      "{\"rows\": %zu, \"dim\": %zu, \"queries\": %zu, \"k\": %zu, \"build_seconds\": %.3f, "
      "\"queries_per_second\": %.1f, \"max_rss_mib\": %.1f}\n",
      rows, dim, queries, k, build, static_cast<double>(found.size()) / search,
      static_cast<double>(usage.ru_maxrss) / 1024.0);
  return 0;
}
