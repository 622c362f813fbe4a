// The exact PCA for Python callers, in two shapes over one implementation (pca/covariance_accumulator.h,
// pca/pca_model.h):
//   numpy:  covariance_partial(float32 [n, D]) -> (count, mean, scatter), merge_partials, fit_pca,
//   pca_transform; Arrow:  the same over record batches (arrow_capsule.h), for orchard.spark's mapInArrow
//   functions. A partial
//           is then a row `count int64, mean list<double>[D], scatter list<double>[D * D]` (row-major).
#pragma once

#include <nanobind/nanobind.h>

namespace orchard::python {

namespace nb = nanobind;

// Registers the module-level functions listed above.
void BindPcaFunctions(nb::module_& m);

}  // namespace orchard::python
