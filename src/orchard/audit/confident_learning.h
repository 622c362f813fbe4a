#pragma once

#include <cstddef>
#include <span>
#include <vector>

namespace orchard {

// Confident learning's "prune by noise rate" (Northcutt, Jiang & Chuang, "Confident Learning: Estimating
// Uncertainty in Dataset Labels", JAIR 70, 2021, section 3.2), as cleanlab's default
// `filter.find_label_issues(labels, pred_probs, filter_by="prune_by_noise_rate")` computes it (cleanlab 2.9,
// checked against it on the same probabilities):
//  1. thresholds t_j = mean p(j | x) over the examples labelled j, at least 2e-6;
//  2. the confident joint C[i][j]: examples labelled i whose confident classes (p(j | x) >= t_j - 1e-6) are j
//     alone, or, with several, whose most probable class is j; its diagonal at least 1; calibrated so that
//     row i sums to the count of label i and the whole to n (rounded preserving row sums);
//  3. for each label i and j != i, the round(C[i][j]) examples labelled i with the largest margin
//     p(j | x) - p(i | x) are issues (none in a label of one example, and at least one example per class
//     kept: cleanlab's min_examples_per_class = 1);
//  4. an example whose given label is its most probable class is no issue.
// Unlike the joint's off-diagonal alone (step 2's examples), this counts how many examples of label i belong
// to j and then takes that many, so mislabelled examples that sit together, voting for each other below
// t_j, are found once a few of them are confident.
//
// probabilities: n x classes, row-major, each row out-of-sample class probabilities (k-NN votes here);
// given: n labels in [0, classes). Returns n flags, true for a label issue. Throws std::invalid_argument on
// sizes that do not match.
std::vector<bool> FindLabelIssues(std::span<const double> probabilities, std::size_t classes,
                                  std::span<const std::size_t> given);

}  // namespace orchard
