#pragma once

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>

#include "orchard/audit/audit_analysis.h"

namespace orchard {

// What `orchard audit` is told.
struct AuditOptions {
  std::string output;  // folder or URI written by `orchard run`
  std::string report;  // local folder for audit.json and audit.html
  AuditSettings settings;
};

// Audits the `features` of every row of the output (docs/audit.md: near_duplicates, cross_split, outliers,
// label_issues, each entry with path, label and score) and writes DIR/audit.json and DIR/audit.html (one
// self-contained page, the Vega stack of eval's report, thumbnails of the images involved read through the
// storage layer). Memory: the exact index (4 × rows × dim bytes) once more for the split and label subsets,
// plus rows × k neighbours. Returns audit.json's content. Throws IoError (no _SUCCESS, unreadable parts,
// unwritable report), UsageError (bad settings).
nlohmann::json AuditOutput(const AuditOptions& options, std::ostream& log);

}  // namespace orchard
