#include "orchard/serve/similar_endpoint.h"

#include "orchard/common/error.h"
#include "orchard/recognition/run_evaluation.h"
#include "orchard/serve/client_error.h"

namespace orchard {

std::optional<SimilarIndex> OpenServedIndex(const std::string& output, const Bundle& bundle) {
  if (output.empty()) return std::nullopt;
  SimilarIndex index = SimilarIndex::Open(output);
  CheckSameFeatures(bundle, index.manifest(), output);
  return index;
}

std::size_t SimilarRequestK(const SimilarIndex* index, const std::string& k) {
  if (index == nullptr) {
    throw ClientError{404, "no_index",
                      "this server has no index: start it with --index OUT (orchard index OUT)"};
  }
  if (k.empty()) return kDefaultSimilarK;
  try {
    std::size_t used = 0;
    const long value = std::stol(k, &used);
    if (used == k.size() && value >= 1 && static_cast<std::size_t>(value) <= kMaxSimilarK) {
      return static_cast<std::size_t>(value);
    }
  } catch (const std::exception&) {
  }
  throw ClientError{400, "bad_parameter", "k must be an integer from 1 to " + std::to_string(kMaxSimilarK)};
}

nlohmann::json SimilarAnswer(const SimilarIndex& index, std::span<const float> features, std::size_t k) {
  return {{"similar", SimilarJson(index.Search(features, k))}};
}

}  // namespace orchard
