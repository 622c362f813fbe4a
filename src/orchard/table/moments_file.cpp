#include "orchard/table/moments_file.h"

#include <arrow/api.h>
#include <arrow/util/key_value_metadata.h>
#include <parquet/arrow/reader.h>

#include <nlohmann/json.hpp>

#include "orchard/storage/arrow_status.h"
#include "orchard/table/parquet_io.h"

namespace orchard {
namespace {

constexpr int kMomentsFormatVersion = 1;

std::shared_ptr<arrow::Schema> MomentsSchema(std::size_t dim) {
  return arrow::schema(
      {arrow::field("mean", arrow::float64(), /*nullable=*/false),
       arrow::field("scatter", arrow::fixed_size_list(arrow::float64(), static_cast<std::int32_t>(dim)),
                    false)});
}

std::shared_ptr<arrow::Array> Doubles(const double* data, std::size_t n, const std::string& context) {
  arrow::DoubleBuilder builder;
  ThrowIfError(builder.AppendValues(data, static_cast<std::int64_t>(n)), context);
  return ValueOrThrow(builder.Finish(), context);
}

[[noreturn]] void ThrowInvalid(const Location& location, const std::string& why) {
  throw IoError(location.uri() + ": not an orchard moments file: " + why);
}

}  // namespace

void WriteMoments(const CovarianceAccumulator& moments, const Location& location) {
  const std::size_t dim = moments.dim();
  // The scatter is symmetric, so its column-major storage is also row-major: row i is column i.
  const Eigen::MatrixXd scatter = moments.scatter();
  const auto rows =
      ValueOrThrow(arrow::FixedSizeListArray::FromArrays(Doubles(scatter.data(), dim * dim, location.uri()),
                                                         static_cast<std::int32_t>(dim)),
                   location.uri());
  const auto batch = arrow::RecordBatch::Make(MomentsSchema(dim), static_cast<std::int64_t>(dim),
                                              {Doubles(moments.mean().data(), dim, location.uri()), rows});
  const nlohmann::json metadata = {
      {"format_version", kMomentsFormatVersion}, {"count", moments.count()}, {"dim", dim}};
  WriteAtomically(location, [&](const Location& target) {
    ParquetFileWriter writer(target, MomentsSchema(dim), {{kMomentsMetadataKey, metadata.dump()}});
    writer.Write(*batch);
    writer.Close();
  });
}

CovarianceAccumulator ReadMoments(const Location& location, std::size_t dim) {
  auto input = ValueOrThrow(location.fs->OpenInputFile(location.path), location.uri());
  auto reader = ValueOrThrow(OpenVerifiedParquet(input), location.uri());
  const auto table =
      ValueOrThrow(ValueOrThrow(reader->ReadTable(), location.uri())->CombineChunks(), location.uri());
  const auto metadata = reader->parquet_reader()->metadata()->key_value_metadata();
  const int index = metadata ? metadata->FindKey(kMomentsMetadataKey) : -1;
  if (index < 0) ThrowInvalid(location, std::string("no '") + kMomentsMetadataKey + "' metadata");
  std::int64_t count = 0;
  try {
    const auto json = nlohmann::json::parse(metadata->value(index));
    if (json.at("format_version").get<int>() != kMomentsFormatVersion)
      ThrowInvalid(location, "unknown version");
    if (json.at("dim").get<std::size_t>() != dim) {
      ThrowInvalid(location,
                   "dimension " + json.at("dim").dump() + ", the model's is " + std::to_string(dim));
    }
    count = json.at("count").get<std::int64_t>();
  } catch (const nlohmann::json::exception& e) {
    ThrowInvalid(location, std::string("bad metadata JSON: ") + e.what());
  }
  const auto column = [&](const char* name) -> std::shared_ptr<arrow::Array> {
    const auto chunks = table->GetColumnByName(name);
    return chunks && chunks->num_chunks() == 1 ? chunks->chunk(0) : nullptr;
  };
  const auto mean = std::dynamic_pointer_cast<arrow::DoubleArray>(column("mean"));
  const auto rows = std::dynamic_pointer_cast<arrow::FixedSizeListArray>(column("scatter"));
  const auto values = rows ? std::dynamic_pointer_cast<arrow::DoubleArray>(rows->values()) : nullptr;
  if (!mean || !values || table->num_rows() != static_cast<std::int64_t>(dim) ||
      values->length() != static_cast<std::int64_t>(dim * dim)) {
    ThrowInvalid(location, "columns are not mean float64 and scatter fixed_size_list<float64>[dim]");
  }
  const auto d = static_cast<Eigen::Index>(dim);
  return CovarianceAccumulator::FromMoments(count, Eigen::Map<const Eigen::VectorXd>(mean->raw_values(), d),
                                            Eigen::Map<const Eigen::MatrixXd>(values->raw_values(), d, d));
}

}  // namespace orchard
