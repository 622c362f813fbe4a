#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "orchard/model/embedding_model.h"
#include "orchard/pca/pca_model.h"
#include "orchard/pipeline/progress.h"
#include "orchard/storage/location.h"

namespace orchard {

// Reads wait on storage, not on a core: 16 requests in flight hide an object store's ~10-50 ms per request
// at the rate inference consumes images, and cost little on a local disk.
inline constexpr int kDefaultIoThreads = 16;

// The pipeline runs an inference thread per stream, so it lets OpenVINO choose them (streams = 0).
inline ModelOptions PipelineModelOptions() {
  ModelOptions options;
  options.streams = 0;
  return options;
}

// Everything `orchard run` can be told; the CLI fills it, RunJob() reads it.
struct RunOptions {
  std::string input;                            // folder or manifest, path or URI
  std::string output;                           // folder, path or URI
  ModelOptions model = PipelineModelOptions();  // model.batch_size is also the pipeline's batch
  std::string preprocess_preset;                // empty: the model's default (ModelContract::DefaultPreset)
  PcaSelection pca;
  int threads = 0;                     // decode/preprocess workers; 0 = one per core
  int io_threads = kDefaultIoThreads;  // concurrent reads of input files or objects
  std::size_t rows_per_part = 8192;
  std::uint64_t max_pixels = 100'000'000;
  std::int64_t max_file_bytes = kDefaultMaxFileBytes;  // larger input files are error rows
  bool overwrite = false;              // replace orchard's files in a non-empty output (output_guard.h)
  bool overwrite_bucket_root = false;  // ... also when the output is a whole bucket
  bool incremental = false;  // update a finished job in the output with new, replaced and deleted inputs
  std::string s3_endpoint;   // custom S3 endpoint URL; empty: AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL / AWS
  ProgressListener progress_listener;  // empty: the progress is printed on RunJob's log (the CLI)
};

}  // namespace orchard
