#pragma once

#include <string>

namespace orchard {

// GET /: one self-contained HTML page (no external scripts, styles or fonts). A person drops or picks a
// photo; the page posts its bytes to /v1/predict and shows the label and the top-k probabilities.
const std::string& IndexPage();

}  // namespace orchard
