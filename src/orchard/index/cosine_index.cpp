#include "orchard/index/cosine_index.h"

#include <arrow/array.h>
#include <arrow/builder.h>
#include <faiss/IndexFlat.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>
#include <faiss/utils/distances.h>

#include <algorithm>
#include <stdexcept>

#include "orchard/common/error.h"
#include "orchard/storage/arrow_status.h"
#include "orchard/table/parquet_io.h"

namespace orchard {
namespace {

// Faiss serialises through these callbacks; routing them to Arrow streams keeps every byte on the storage
// layer (local disk or an object store) instead of a FILE*.
struct StreamWriter : faiss::IOWriter {
  arrow::io::OutputStream* out;
  std::string uri;
  size_t operator()(const void* ptr, size_t size, size_t nitems) override {
    ThrowIfError(out->Write(ptr, static_cast<std::int64_t>(size * nitems)), uri);
    return nitems;
  }
};

struct StreamReader : faiss::IOReader {
  arrow::io::InputStream* in;
  std::string uri;
  size_t operator()(void* ptr, size_t size, size_t nitems) override {
    if (size == 0 || nitems == 0) return 0;
    const auto read = ValueOrThrow(in->Read(static_cast<std::int64_t>(size * nitems), ptr), uri);
    return static_cast<size_t>(read) / size;
  }
};

std::shared_ptr<arrow::Schema> KeysSchema() {
  return arrow::schema(
      {arrow::field("path", arrow::utf8(), false), arrow::field("label", arrow::utf8(), false)});
}

const arrow::StringArray& Strings(const arrow::RecordBatch& batch, const std::string& name,
                                  const std::string& uri) {
  const auto column = batch.GetColumnByName(name);
  if (!column || column->type_id() != arrow::Type::STRING) throw IoError(uri + ": no string column " + name);
  return static_cast<const arrow::StringArray&>(*column);
}

IndexKeys ReadKeys(const Location& keys_file) {
  IndexKeys keys;
  ReadParquetBatches(keys_file, [&](const std::shared_ptr<arrow::RecordBatch>& batch) {
    const auto& paths = Strings(*batch, "path", keys_file.uri());
    const auto& labels = Strings(*batch, "label", keys_file.uri());
    for (std::int64_t i = 0; i < batch->num_rows(); ++i) {
      keys.paths.emplace_back(paths.GetView(i));
      keys.labels.emplace_back(labels.GetView(i));
    }
  });
  return keys;
}

void WriteKeys(const IndexKeys& keys, const Location& keys_file) {
  WriteAtomically(keys_file, [&](const Location& target) {
    ParquetFileWriter writer(target, KeysSchema());
    for (std::size_t start = 0; start < keys.size(); start += kParquetRowsPerBatch) {
      const std::size_t end = std::min(keys.size(), start + static_cast<std::size_t>(kParquetRowsPerBatch));
      arrow::StringBuilder paths;
      arrow::StringBuilder labels;
      for (std::size_t i = start; i < end; ++i) {
        ThrowIfError(paths.Append(keys.paths[i]), target.uri());
        ThrowIfError(labels.Append(keys.labels[i]), target.uri());
      }
      const auto batch = arrow::RecordBatch::Make(
          KeysSchema(), static_cast<std::int64_t>(end - start),
          {ValueOrThrow(paths.Finish(), target.uri()), ValueOrThrow(labels.Finish(), target.uri())});
      writer.Write(*batch);
    }
    writer.Close();
  });
}

}  // namespace

CosineIndex::CosineIndex(std::size_t dim)
    : dim_(dim), index_(std::make_unique<faiss::IndexFlatIP>(static_cast<faiss::Index::idx_t>(dim))) {}
CosineIndex::CosineIndex(CosineIndex&&) noexcept = default;
CosineIndex& CosineIndex::operator=(CosineIndex&&) noexcept = default;
CosineIndex::~CosineIndex() = default;

void CosineIndex::Reserve(std::size_t rows) {
  index_->codes.reserve(rows * dim_ * sizeof(float));
  keys_.paths.reserve(rows);
  keys_.labels.reserve(rows);
}

void CosineIndex::Add(FloatRows rows, std::span<const std::string> paths,
                      std::span<const std::string> labels) {
  const std::size_t n = rows.dim == 0 ? 0 : rows.values.size() / rows.dim;
  if (rows.dim != dim_ || n * rows.dim != rows.values.size() || paths.size() != n || labels.size() != n) {
    throw std::invalid_argument("CosineIndex::Add: " + std::to_string(n) + " rows of " +
                                std::to_string(rows.dim) + " floats, " + std::to_string(paths.size()) +
                                " keys, index of dim " + std::to_string(dim_));
  }
  std::vector<float> normalised(rows.values.begin(), rows.values.end());
  faiss::fvec_renorm_L2(dim_, n, normalised.data());
  index_->add(static_cast<faiss::Index::idx_t>(n), normalised.data());
  keys_.paths.insert(keys_.paths.end(), paths.begin(), paths.end());
  keys_.labels.insert(keys_.labels.end(), labels.begin(), labels.end());
}

std::vector<std::vector<Neighbour>> CosineIndex::Search(std::span<const float> queries, std::size_t n,
                                                        std::size_t k) const {
  if (queries.size() != n * dim_) throw std::invalid_argument("CosineIndex::Search: queries are not n × dim");
  k = std::min(k, size());
  std::vector<std::vector<Neighbour>> result(n);
  if (k == 0 || n == 0) return result;
  std::vector<float> normalised(queries.begin(), queries.end());
  faiss::fvec_renorm_L2(dim_, n, normalised.data());
  std::vector<float> similarities(n * k);
  std::vector<faiss::Index::idx_t> rows(n * k);
  index_->search(static_cast<faiss::Index::idx_t>(n), normalised.data(), static_cast<faiss::Index::idx_t>(k),
                 similarities.data(), rows.data());
  for (std::size_t q = 0; q < n; ++q) {
    for (std::size_t j = 0; j < k; ++j) {
      if (rows[q * k + j] < 0) break;
      // The inner product of two unit vectors in float can pass 1 by rounding (an image against itself:
      // distance -2.4e-07): the documented range [-1, 1] holds.
      result[q].push_back({rows[q * k + j], std::clamp(similarities[q * k + j], -1.0f, 1.0f)});
    }
  }
  return result;
}

std::span<const float> CosineIndex::Vector(std::int64_t row) const {
  return {index_->get_xb() + static_cast<std::size_t>(row) * dim_, dim_};
}

void CosineIndex::Save(const Location& file, const Location& keys_file) const {
  WriteAtomically(file, [&](const Location& target) {
    auto out = ValueOrThrow(target.fs->OpenOutputStream(target.path), target.uri());
    StreamWriter writer;
    writer.out = out.get();
    writer.uri = target.uri();
    try {
      faiss::write_index(index_.get(), &writer);
    } catch (const faiss::FaissException& e) {
      throw IoError(target.uri() + ": " + e.what());
    }
    ThrowIfError(out->Close(), target.uri());
  });
  WriteKeys(keys_, keys_file);
}

CosineIndex CosineIndex::Load(const Location& file, const Location& keys_file) {
  auto in = ValueOrThrow(file.fs->OpenInputStream(file.path), file.uri());
  StreamReader reader;
  reader.in = in.get();
  reader.uri = file.uri();
  std::unique_ptr<faiss::Index> loaded;
  try {
    loaded.reset(faiss::read_index(&reader));
  } catch (const faiss::FaissException& e) {
    throw IoError(file.uri() + ": not a Faiss index (" + std::string(e.what()) + ")");
  }
  auto* flat = dynamic_cast<faiss::IndexFlatIP*>(loaded.get());
  if (flat == nullptr) throw IoError(file.uri() + ": not an exact inner-product (IndexFlatIP) index");
  CosineIndex index(static_cast<std::size_t>(flat->d));
  loaded.release();
  index.index_.reset(flat);
  index.keys_ = ReadKeys(keys_file);
  if (index.keys_.size() != static_cast<std::size_t>(flat->ntotal)) {
    throw IoError(keys_file.uri() + ": " + std::to_string(index.keys_.size()) + " keys for " +
                  std::to_string(flat->ntotal) + " index rows");
  }
  return index;
}

}  // namespace orchard
