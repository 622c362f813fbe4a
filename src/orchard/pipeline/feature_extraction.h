#pragma once

#include <atomic>
#include <cstdint>

#include "orchard/image/preprocess_spec.h"
#include "orchard/model/embedding_model.h"
#include "orchard/pipeline/progress.h"
#include "orchard/pipeline/resume.h"
#include "orchard/storage/location.h"

namespace orchard {

struct ExtractionSettings {
  Location input;
  Location staging_folder;  // feature parts without the pca column go here
  Location errors_folder;
  PreprocessSpec preprocess;
  int read_threads = 1;  // concurrent reads, ahead of decoding
  int decode_threads = 1;
  std::size_t rows_per_part = 8192;
  std::uint64_t max_pixels = 0;
  // Larger input files are error rows, refused from their listed or stat/HEAD size before reading. Also the
  // budget of file bytes held between reading and decoding, all readers and queued files together.
  std::int64_t max_file_bytes = kDefaultMaxFileBytes;
};

// Pass one of a run: list → read (a pool of readers) → decode + preprocess (a pool of workers, each filling
// whole batches of the model's input tensor in place) → inference (a thread per stream) → write, each stage
// on its own threads joined by bounded queues. Features are staged to Parquet as they come and their
// covariance accumulated on the way, so the PCA needs no second copy of the feature matrix in memory.
// Continues `state`: inputs whose row is held already (state.done with the same key, or an unchanged input of
// state.previous) are skipped; new parts, rows and statistics are added to it. Throws
// Cancelled when `cancel` becomes true; the first failure of any stage is rethrown here.
void ExtractFeatures(const ExtractionSettings& settings, EmbeddingModel& model, ProgressReporter& progress,
                     const std::atomic<bool>& cancel, ResumeState& state);

}  // namespace orchard
