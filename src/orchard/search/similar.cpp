#include "orchard/search/similar.h"

#include <stdexcept>

#include "orchard/common/error.h"
#include "orchard/index/output_index.h"
#include "orchard/model/image_embedder.h"
#include "orchard/recognition/bundle.h"
#include "orchard/table/pca_model_file.h"

namespace orchard {
namespace {

// Images announcing more pixels are refused from their header, as `orchard run`'s default does.
constexpr std::uint64_t kMaxPixels = 100'000'000;

// One image's features through the one bytes -> feature-row path, or why it has none.
std::vector<float> Embed(const ImageEmbedder& embedder, const Location& image, std::string& error) {
  std::shared_ptr<arrow::Buffer> bytes;
  try {
    bytes = ReadAll(image);
  } catch (const InputError& e) {
    error = std::string("cannot read: ") + e.what();
    return {};
  }
  std::vector<float> slot(embedder.image_size());
  const std::span data(bytes->data(), static_cast<std::size_t>(bytes->size()));
  if (const auto failure = embedder.Prepare(data, slot)) {
    error = failure->message;
    return {};
  }
  std::vector<float> features(embedder.feature_dim());
  if (const auto failure = embedder.Embed(slot, 1, features).front()) {
    error = failure->message;
    return {};
  }
  return features;
}

}  // namespace

SimilarIndex::SimilarIndex(CosineIndex index, std::optional<PcaModel> pca, nlohmann::json manifest)
    : index_(std::move(index)), pca_(std::move(pca)), manifest_(std::move(manifest)) {}

SimilarIndex SimilarIndex::Open(const std::string& output) {
  const OutputLayout layout{ResolveLocation(output)};
  nlohmann::json manifest = ReadRunManifest(layout);
  CosineIndex index = LoadOutputIndex(layout, manifest);
  std::optional<PcaModel> pca;
  if (manifest.at("index").at("column") == "pca") {
    const Location pca_file = PcaModelFile(layout, manifest);
    pca = ReadPcaModel(pca_file.fs, pca_file.path);
  }
  return SimilarIndex(std::move(index), std::move(pca), std::move(manifest));
}

std::vector<SimilarImage> SimilarIndex::Search(std::span<const float> features, std::size_t k) const {
  std::vector<float> vector(features.begin(), features.end());
  if (pca_) {
    if (features.size() != pca_->dim())
      throw std::invalid_argument("SimilarIndex::Search: features of another dimension");
    vector.assign(pca_->k(), 0.0f);
    pca_->Transform(features, 1, vector);
  }
  if (vector.size() != index_.dim())
    throw std::invalid_argument("SimilarIndex::Search: features of another dimension");
  std::vector<SimilarImage> images;
  const auto found = index_.Search(vector, 1, k);  // kept: a loop over .front() of a temporary would dangle
  for (const auto& neighbour : found.front()) {
    const auto row = static_cast<std::size_t>(neighbour.row);
    images.push_back({index_.keys().paths[row], index_.keys().labels[row], neighbour.distance()});
  }
  return images;
}

nlohmann::json SimilarJson(const std::vector<SimilarImage>& images) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& image : images) {
    list.push_back({{"path", image.path}, {"label", image.label}, {"distance", image.distance}});
  }
  return list;
}

std::size_t WriteSimilar(const SimilarOptions& options, std::ostream& out, std::ostream& log) {
  if (options.k < 1) throw UsageError("--k must be at least 1");
  const SimilarIndex index = SimilarIndex::Open(options.index);
  EmbeddingModel model = OpenVerifiedModel(ModelReference::FromJson(index.manifest().at("model")));
  log << model.NotesText();
  const ImageEmbedder embedder(model, PreprocessSpec::FromJson(index.manifest().at("preprocess")),
                               kMaxPixels);
  std::size_t failed = 0;
  for (const auto& input : options.images) {
    const Location image = ResolveLocation(input);
    std::string error;
    const auto features = Embed(embedder, image, error);
    nlohmann::json line = {{"path", image.uri()}};
    if (error.empty()) {
      line["similar"] = SimilarJson(index.Search(features, options.k));
    } else {
      line["error"] = error;
      ++failed;
    }
    out << line.dump() << "\n";
  }
  out.flush();
  return failed;
}

}  // namespace orchard
