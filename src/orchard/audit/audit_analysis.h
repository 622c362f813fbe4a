#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "orchard/index/cosine_index.h"
#include "orchard/index/near_duplicates.h"

namespace orchard {

// The most neighbours --k and --outlier-k may ask for (each image's votes come from its k nearest).
inline constexpr std::size_t kMaxAuditNeighbours = 1000;

// The audit's knobs; the defaults are the documented, calibrated ones (docs/audit.md).
struct AuditSettings {
  double near_duplicate_cosine = kNearDuplicateCosine;  // the one near-duplicate definition
  std::size_t k = 10;         // neighbours per image for the k-NN label probabilities
  std::size_t outlier_k = 5;  // same-label neighbours averaged for the outlier distance
  double outlier_z = 6.0;     // robust z-score (median/MAD within the label) at which an image is an outlier
  std::string train_split = "Training";
  std::string test_split = "Test";
};

// Every image's k nearest other images (self excluded), most similar first: the graph all sections read.
// Queries go in blocks of 4,096 rows, so memory is the index plus n × k neighbours.
std::vector<std::vector<Neighbour>> NeighbourGraph(const CosineIndex& index, std::size_t k);

// near_duplicates: each image is linked to its most similar other image when that is a near-duplicate; the
// groups are the connected parts of those links (no chaining through every frame of a video, which linking
// all pairs above the threshold would do). [{id, size, score (max similarity), members: [{path, label,
// score (similarity to its nearest near-duplicate), match_path}]}], largest first.
nlohmann::json NearDuplicateGroups(const CosineIndex& index, const std::vector<std::vector<Neighbour>>& graph,
                                   double threshold);

// cross_split: every test image with a near-duplicate in the training split (FindNearDuplicates(), the
// definition `orchard eval` uses), [{path, label, score (similarity), match_path, match_label}], and the
// leakage count per class {label: {leaked, test_images}}.
nlohmann::json CrossSplit(const CosineIndex& index, const AuditSettings& settings);

// outliers: images far from their own label's neighbourhood. distance = 1 - mean cosine similarity to the
// outlier_k most similar other images of the same label; score = robust z-score of that distance within
// the label ((d - median) / (1.4826 MAD)); rank 1 = highest score. Only those with score >= outlier_z.
nlohmann::json Outliers(const CosineIndex& index, const AuditSettings& settings);

// label_issues: k-NN label probabilities (leave-one-out: each image's k nearest others vote with their
// cosine similarity) read with confident learning's prune by noise rate (FindLabelIssues(), as cleanlab's
// default). The suggested label is the most probable one.
// [{path, label, suggested_label, confidence (p of the suggestion), score (1 - p(i | x)), rank}].
nlohmann::json LabelIssues(const CosineIndex& index, const std::vector<std::vector<Neighbour>>& graph);

// label_names: labels that are one name written differently, the same after Unicode NFKC case folding
// (utf8proc_NFKC_Casefold): "Kiwi" and "kiwi", or "Clémentine" with a precomposed é (NFC) and with e plus a
// combining accent (NFD, as macOS writes file names). Each is its own class for train and the audit.
// [{labels: [{label, images}], images}], most images first; labels within a clash by name. A label that is
// not valid UTF-8 is compared as it is.
nlohmann::json LabelNameClashes(const CosineIndex& index);

}  // namespace orchard
