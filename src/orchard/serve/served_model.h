#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "orchard/recognition/recognizer.h"
#include "orchard/serve/inference_batcher.h"
#include "orchard/serve/log_sink.h"
#include "orchard/serve/model_repository.h"
#include "orchard/serve/oip_protocol.h"
#include "orchard/serve/serve_options.h"
#include "orchard/serve/similar_endpoint.h"

namespace orchard {

// One version of the model, ready to answer: its recognizer, the batcher (one inference thread) that owns
// it, and the index of `serve --index`, checked against this version's features. Requests hold it by
// shared_ptr, so a request that began on a version finishes on it even after a newer one was swapped in; the
// last holder destroys it.
class ServedModel {
 public:
  // Verifies and compiles the bundle's model (ModelError, IoError) for options.max_batch and, where the batch
  // is static, for the powers of two under it too (a lone request runs at batch 1, a batch of n on the
  // smallest compiled batch holding n); opens options.index when it is set (UsageError when the index was
  // made with other features than this bundle's: OpenServedIndex).
  ServedModel(Bundle bundle, const std::string& version, const ServeOptions& options);

  // Runs the whole path (decode, preprocess, model, classifier) on a built-in image at every compiled batch,
  // the full batch last, so that each has run once. Throws what the path throws.
  void WarmUp();

  Recognizer recognizer;
  InferenceBatcher batcher;
  oip::ModelInfo info;                  // name, version, labels, feature dimension
  std::optional<SimilarIndex> similar;  // nullopt without --index

 private:
  std::size_t max_batch_;
};

// The model the service answers with, and its updates from a model repository. With --bundle the one version
// is "1"; with --model-repository the highest version is loaded at start, and every poll period a newer one
// is loaded, warmed up and swapped in atomically. A version that fails to load or warm up is logged and
// counted in the metrics, the served one stays, and it is retried only once its files change.
class ModelManager {
 public:
  // Loads the first version (not yet warmed up: Serve() does it before turning ready) and starts polling.
  // Throws IoError/ModelError when it cannot be loaded, UsageError when neither or both sources are given.
  ModelManager(const ServeOptions& options, LogSink& log);
  ~ModelManager();  // stops polling
  ModelManager(const ModelManager&) = delete;
  ModelManager& operator=(const ModelManager&) = delete;

  // The version serving now (never null).
  std::shared_ptr<ServedModel> current() const { return current_.load(); }

  // Swaps in the repository's highest version newer than the served one that loads and warms up, skipping
  // versions that already failed with the same files (a broken newest version does not hold back a good one
  // below it). Returns whether a new version now serves. Never throws: failures are logged and counted.
  bool Update();

  // Prometheus text: the served version, loads by result, the versions that failed, and the served version's
  // batches (histogram and average size).
  std::string MetricsText() const;

 private:
  void Poll();
  std::shared_ptr<ServedModel> Load(Bundle bundle, const std::string& version);
  // Logged ("cannot be served<keeping>: <reason>"), counted and remembered with the version's fingerprint.
  void Failed(const RepositoryVersion& version, const std::string& keeping, const std::string& reason);

  const ServeOptions options_;
  LogSink& log_;
  std::optional<ModelRepository> repository_;
  std::atomic<std::shared_ptr<ServedModel>> current_;
  std::uint64_t current_version_ = 1;
  mutable std::mutex mutex_;                     // guards what follows
  std::map<std::uint64_t, std::string> failed_;  // version -> fingerprint of the files that failed
  std::uint64_t loads_ok_ = 0;
  std::uint64_t loads_failed_ = 0;
  bool stopping_ = false;
  std::condition_variable wake_;
  std::thread poller_;  // last: starts once everything above exists
};

}  // namespace orchard
