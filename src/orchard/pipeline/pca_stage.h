#pragma once

#include <string>
#include <vector>

#include "orchard/pca/pca_model.h"
#include "orchard/storage/location.h"

namespace orchard {

// Pass two of a run: reads each staged part batch by batch, adds the `pca` column and writes the final part
// of the same name into `features_folder`, a part per core at a time. Without a `pca` (a job with too few
// rows for one, run_job.h) each staged part is copied as it is: features without a `pca` column. The staged
// parts stay until the job's _SUCCESS is written, so that an interruption here loses nothing. Returns the
// final parts' names, in the staged parts' order. The first failure stops the other parts and is rethrown.
std::vector<std::string> WriteFinalParts(const std::vector<Location>& staged_parts,
                                         const Location& features_folder, const PcaModel* pca);

}  // namespace orchard
