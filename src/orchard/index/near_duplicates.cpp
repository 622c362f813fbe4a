#include "orchard/index/near_duplicates.h"

namespace orchard {

std::vector<std::optional<Neighbour>> FindNearDuplicates(const CosineIndex& reference, FloatRows queries,
                                                         double threshold) {
  const std::size_t n = queries.dim == 0 ? 0 : queries.values.size() / queries.dim;
  const auto nearest = reference.Search(queries.values, n, 1);
  std::vector<std::optional<Neighbour>> matches(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (!nearest[i].empty() && IsNearDuplicate(nearest[i].front(), threshold))
      matches[i] = nearest[i].front();
  }
  return matches;
}

}  // namespace orchard
