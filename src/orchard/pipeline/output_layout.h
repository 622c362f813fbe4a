#pragma once

#include <string>

#include "orchard/storage/location.h"

namespace orchard {

// The folder `orchard run` writes (README, "Output format"). `_SUCCESS` is written last: a reader that
// finds it knows every file it lists is complete.
struct OutputLayout {
  Location root;

  Location features() const { return root.child("features"); }
  Location errors() const { return root.child("errors"); }
  Location errors_file() const { return errors().child("part-00000.parquet"); }
  Location pca_model() const { return root.child("pca.parquet"); }
  Location staging() const { return root.child("_staging"); }
  Location success() const { return root.child("_SUCCESS"); }
};

}  // namespace orchard
