#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>

#include "orchard/recognition/bundle.h"
#include "orchard/search/similar.h"

namespace orchard {

// Answers of POST /v1/similar carry at most this many images.
inline constexpr std::size_t kMaxSimilarK = 1000;
inline constexpr std::size_t kDefaultSimilarK = 20;

// The index `serve --index OUT` searches, or nullopt for an empty `output`. Throws UsageError when the output
// has no index or its features were made with another model, feature tensor, precision or preprocessing than
// the bundle's (its answers would be meaningless), IoError when it cannot be read.
std::optional<SimilarIndex> OpenServedIndex(const std::string& output, const Bundle& bundle);

// The k of a request ("" = kDefaultSimilarK), checked before the model runs: ClientError 404 when the server
// has no index, 400 for a k that is not an integer in [1, kMaxSimilarK].
std::size_t SimilarRequestK(const SimilarIndex* index, const std::string& k);

// {"similar": [{path, label, distance}]}: the k nearest indexed images to one image's CNN features.
nlohmann::json SimilarAnswer(const SimilarIndex& index, std::span<const float> features, std::size_t k);

}  // namespace orchard
