#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "orchard/storage/location.h"
#include "orchard/table/feature_table.h"

namespace faiss {
struct IndexFlatIP;
}

namespace orchard {

// What a row of an index stands for: the path and label of the output row it was built from.
struct IndexKeys {
  std::vector<std::string> paths;
  std::vector<std::string> labels;

  std::size_t size() const { return paths.size(); }
};

// One neighbour of a query: the index row, its cosine similarity to the query in [-1, 1] and the cosine
// distance 1 - similarity (0 = same direction).
struct Neighbour {
  std::int64_t row = -1;
  float similarity = 0.0f;
  float distance() const { return 1.0f - similarity; }
};

// Exact cosine nearest-neighbour search over float vectors (Faiss IndexFlatIP over L2-normalised rows, so the
// inner product is the cosine). Exact, not approximate: on the sample (20,701 × 1,280) a query of every row
// against all takes seconds on 2 cores (docs/audit.md gives the figures), and exactness keeps the audit's
// thresholds meaningful. Memory: 4 × rows × dim bytes for the vectors, plus the keys.
class CosineIndex {
 public:
  explicit CosineIndex(std::size_t dim);
  CosineIndex(CosineIndex&&) noexcept;
  CosineIndex& operator=(CosineIndex&&) noexcept;
  ~CosineIndex();

  std::size_t dim() const { return dim_; }
  std::size_t size() const { return keys_.size(); }
  const IndexKeys& keys() const { return keys_; }

  // Reserves room for `rows` rows, so that adding them does not reallocate (and briefly double) the vectors.
  void Reserve(std::size_t rows);

  // Appends rows (row-major, rows.dim must equal dim(); a copy is normalised, a zero row stays zero) and
  // their keys (one per row). Throws std::invalid_argument on a size mismatch.
  void Add(FloatRows rows, std::span<const std::string> paths, std::span<const std::string> labels);

  // The k nearest rows of each of the n query rows (row-major, dim() floats each, need not be normalised),
  // most similar first; fewer than k when the index holds fewer rows. Result: n lists.
  std::vector<std::vector<Neighbour>> Search(std::span<const float> queries, std::size_t n,
                                             std::size_t k) const;

  // The stored (normalised) vector of one row: dim() floats, valid while the index lives.
  std::span<const float> Vector(std::int64_t row) const;

  // `file`: the Faiss index (faiss::write_index format); `keys_file`: Parquet with path and label columns,
  // one row per index row, in index order. Each file is written atomically (WriteAtomically()), through the
  // storage layer, so s3:// outputs work. Throws IoError.
  void Save(const Location& file, const Location& keys_file) const;
  // Throws IoError naming the file when it is missing, not a flat inner-product index, or disagrees with
  // the keys.
  static CosineIndex Load(const Location& file, const Location& keys_file);

 private:
  std::size_t dim_;
  std::unique_ptr<faiss::IndexFlatIP> index_;
  IndexKeys keys_;
};

}  // namespace orchard
