#include "orchard/pipeline/model_loading.h"

#include "orchard/common/error.h"
#include "orchard/common/sha256.h"
#include "orchard/storage/temporary_file.h"

namespace orchard {
namespace {

// OpenVINO's frontends read local files only: a model in object storage is compiled from a local copy of
// the very bytes that were hashed, which is removed once the model is compiled.
EmbeddingModel Compile(ModelOptions options, const Location& file, const arrow::Buffer& bytes) {
  if (file.fs->type_name() == "local") return EmbeddingModel(options);
  const auto dot = file.name().rfind('.');
  TemporaryFile copy(dot == std::string::npos ? "" : file.name().substr(dot),
                     {bytes.data(), static_cast<std::size_t>(bytes.size())});
  options.path = copy.path();
  try {
    return EmbeddingModel(options);
  } catch (const ModelError& e) {
    // Name the model the user gave, not our temporary copy.
    std::string message = e.what();
    const std::string local = copy.path().string();
    for (auto at = message.find(local); at != std::string::npos; at = message.find(local, at + 1)) {
      message.replace(at, local.size(), file.uri());
    }
    throw ModelError(message);
  }
}

}  // namespace

LoadedModel LoadModel(const ModelOptions& options, const std::string& expected_sha256) {
  const Location file = ResolveLocation(options.path.string());
  std::shared_ptr<arrow::Buffer> bytes;
  try {
    bytes = ReadAll(file);
  } catch (const InputError& e) {
    throw ModelError(file.uri() + ": " + e.what());
  }
  std::string sha256 = Sha256Hex({bytes->data(), static_cast<std::size_t>(bytes->size())});
  if (!expected_sha256.empty() && sha256 != expected_sha256) {
    throw ModelError(file.uri() + " has sha256 " + sha256 + ", expected " + expected_sha256 +
                     ": the file changed since it was recorded");
  }
  return {file, std::move(sha256), Compile(options, file, *bytes)};
}

}  // namespace orchard
