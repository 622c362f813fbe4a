#include "orchard/pipeline/feature_extraction.h"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "orchard/common/error.h"
#include "orchard/common/utf8.h"
#include "orchard/model/image_embedder.h"
#include "orchard/pca/covariance_accumulator.h"
#include "orchard/pipeline/bounded_queue.h"
#include "orchard/pipeline/byte_budget.h"
#include "orchard/pipeline/failpoint.h"
#include "orchard/pipeline/repeated_inputs.h"
#include "orchard/pipeline/task_group.h"
#include "orchard/storage/input_listing.h"
#include "orchard/table/feature_table.h"
#include "orchard/table/parquet_io.h"

namespace orchard {
namespace {

struct FetchedImage {
  InputItem item;
  std::shared_ptr<arrow::Buffer> bytes;
  ByteBudget::Lease lease;  // the bytes' share of the read budget, given back once decoded
};
using Fetched = std::variant<FetchedImage, ErrorRow>;

// A batch as a decoder fills it: each image is preprocessed straight into its slot of the model's input
// tensor, which inference then reads in place; the tensor goes back to the decoders afterwards.
struct PreparedBatch {
  std::vector<InputItem> items;
  std::vector<float> tensor;
  std::vector<ErrorRow> errors;
};

// Runs `work` on one input. A failure of that input becomes its error row, at the `stage` the work had
// reached; a storage failure (IoError) is not the input's fault and ends the job, which can then be resumed.
template <typename Result, typename Work>
std::variant<Result, ErrorRow> ForOneInput(const InputItem& item, const char* const& stage, Work&& work) {
  try {
    return work();
  } catch (const InputError& e) {
    return ErrorRow{item.location.uri(), stage, e.what()};
  } catch (const IoError&) {
    throw;
  } catch (const std::exception& e) {
    // Not an expected kind of bad input (e.g. out of memory on one image): still one row, not a lost job.
    return ErrorRow{item.location.uri(), stage, std::string("unexpected failure: ") + e.what()};
  }
}

// What the inference stage hands to the writer: the rows of one batch, and the failures met while filling it.
struct EmbeddedBatch {
  std::vector<std::string> paths;
  std::vector<std::string> labels;
  std::vector<float> features;
  std::vector<InputKey> keys;  // of the bytes each row came from (KeyAndCheckHeld)
  std::vector<ErrorRow> errors;
};

// Names carry the attempt so that a resumed job never overwrites, or mixes with, an earlier attempt's parts.
std::string StagedPartName(int attempt, std::size_t index) {
  char name[48];
  std::snprintf(name, sizeof name, "part-a%03d-%05zu.parquet", attempt, index);
  return name;
}

std::string ErrorPartName(int attempt) {
  char name[48];
  std::snprintf(name, sizeof name, "part-a%03d.parquet", attempt);
  return name;
}

class Extraction {
 public:
  Extraction(const ExtractionSettings& settings, EmbeddingModel& model, ProgressReporter& progress,
             const std::atomic<bool>& cancel, ResumeState& state)
      : settings_(settings),
        model_(model),
        embedder_(model, settings.preprocess, settings.max_pixels),
        progress_(progress),
        cancel_(cancel),
        image_size_(embedder_.image_size()),
        read_budget_(settings.max_file_bytes),
        listed_(4096),
        fetched_(2 * static_cast<std::size_t>(std::max(1, settings.read_threads))),
        prepared_(2 * static_cast<std::size_t>(model.streams())),
        spare_tensors_(static_cast<std::size_t>(std::max(1, settings.decode_threads) + 3 * model.streams())),
        embedded_(4),
        state_(state) {}

  void Run() {
    TaskGroup tasks([this] { CloseQueues(); });
    tasks.Spawn([this] { ListLoop(); });
    // In each pool the last worker to finish closes the queue the pool fills.
    const int readers = std::max(1, settings_.read_threads);
    readers_left_ = readers;
    for (int i = 0; i < readers; ++i) tasks.Spawn([this] { ReadLoop(); });
    const int decoders = std::max(1, settings_.decode_threads);
    decoders_left_ = decoders;
    for (int i = 0; i < decoders; ++i) tasks.Spawn([this] { DecodeLoop(); });
    const int inferers = model_.streams();
    inferers_left_ = inferers;
    for (int i = 0; i < inferers; ++i) tasks.Spawn([this] { InferLoop(); });
    tasks.Spawn([this] { WriteLoop(); });
    tasks.Wait();
    if (cancel_) throw orchard::Cancelled();
  }

 private:
  void CloseQueues() {
    read_budget_.Close();
    listed_.Close();
    fetched_.Close();
    prepared_.Close();
    embedded_.Close();
  }

  // Cancellation closes every queue: blocked stages wake up and return.
  bool StopIfCancelled() {
    if (cancel_) CloseQueues();
    return cancel_;
  }

  void ListLoop() {
    ListingCallbacks callbacks;
    callbacks.emit = [this](InputItem item) {
      Failpoint("listing");
      // A manifest may name a file twice: one row per input, or the PCA counts it twice.
      // Rows hold paths as written to Parquet, i.e. escaped where not UTF-8.
      std::string path = EscapeInvalidUtf8(item.location.uri());
      if (!repeated_.First(path, item.location.uri(), item.label)) return !StopIfCancelled();
      if (KeyNeedsRequest(item)) return Forward(std::move(item));  // keyed by its reader
      return KeyAndCheckHeld(item, std::move(path)) ? !StopIfCancelled() : Forward(std::move(item));
    };
    callbacks.on_total = [this](std::size_t total) {
      const auto kept = state_.done.size() + (state_.previous ? state_.previous->inputs.size() : 0);
      progress_.SetTotal(
          std::max<std::int64_t>(0, static_cast<std::int64_t>(total) - static_cast<std::int64_t>(kept)));
    };
    callbacks.on_warning = [this](const std::string& message) { progress_.Note(message); };
    ListInputs(settings_.input, callbacks);
    for (const auto& note : repeated_.Notes()) progress_.Note(note);
    progress_.ListingDone();
    listed_.Close();
  }

  bool Forward(InputItem item) {
    progress_.AddListed();
    return !StopIfCancelled() && listed_.Push(std::move(item));
  }

  // Keys `item` (its stat or HEAD), records it with its key in the next inventory (from the listing and the
  // readers), and says whether a row of these very bytes is already held, so the input is not done again.
  // The key travels with the item, to be staged with its row.
  // `path` is the item's as its rows hold it.
  bool KeyAndCheckHeld(InputItem& item, std::string path) {
    const InputKey key = KeyOfInput(item);
    if (key.size >= 0) {
      item.listed_size = key.size;
      item.listed_mtime_ms = key.mtime_ms;
    }
    const bool held = Held(path, key);
    const std::lock_guard lock(listed_mutex_);
    state_.listed.push_back({std::move(path), key});
    return held;
  }

  // Staged by an earlier attempt of this job from bytes of the same key (resume.h), or an input of the
  // finished job this attempt updates whose bytes are the same (incremental.h).
  bool Held(const std::string& path, const InputKey& key) const {
    if (const auto staged = state_.done.find(path); staged != state_.done.end()) {
      return key.size >= 0 && staged->second.key == key;
    }
    if (!state_.previous) return false;
    const auto found = state_.previous->inputs.find(path);
    return found != state_.previous->inputs.end() && found->second == key;
  }

  // Reads are I/O-bound: more readers than cores keep requests to an object store in flight. A file's size is
  // known before it is read, so its bytes are taken from the budget first: the bytes held between reading and
  // decoding (files being read, queued, being decoded) stay under settings_.max_file_bytes in total.
  void ReadLoop() {
    while (auto item = listed_.Pop()) {
      if (StopIfCancelled()) break;
      if (KeyNeedsRequest(*item) && KeyAndCheckHeld(*item, EscapeInvalidUtf8(item->location.uri()))) {
        continue;  // its row is held already
      }
      if (!fetched_.Push(Read(std::move(*item)))) break;
    }
    if (--readers_left_ == 0) fetched_.Close();
  }

  Fetched Read(InputItem item) {
    const char* const stage = "read";
    return ForOneInput<FetchedImage>(item, stage, [&] {
      if (!item.listing_error.empty()) throw InputError(item.listing_error);
      const auto opened = OpenForRead(item.location, item.listed_size, settings_.max_file_bytes);
      auto lease = read_budget_.Take(opened.size);
      auto bytes = ReadWhole(opened);
      return FetchedImage{std::move(item), std::move(bytes), std::move(lease)};
    });
  }

  void DecodeLoop() {
    const std::size_t batch_size = model_.batch_size();
    PreparedBatch batch = NewBatch();
    bool consumer_gone = false;
    while (auto fetched = fetched_.Pop()) {
      if (auto* error = std::get_if<ErrorRow>(&*fetched)) {
        batch.errors.push_back(std::move(*error));
      } else {
        PrepareInto(std::get<FetchedImage>(std::move(*fetched)), batch);
      }
      // Errors alone also complete a batch, so that a run of bad inputs is reported as it happens.
      if (batch.items.size() < batch_size && batch.errors.size() < batch_size) continue;
      consumer_gone = StopIfCancelled() || !prepared_.Push(std::exchange(batch, NewBatch()));
      if (consumer_gone) break;
    }
    if (!consumer_gone && !(batch.items.empty() && batch.errors.empty())) prepared_.Push(std::move(batch));
    if (--decoders_left_ == 0) prepared_.Close();
  }

  PreparedBatch NewBatch() {
    PreparedBatch batch;
    auto spare = spare_tensors_.TryPop();
    batch.tensor = spare ? std::move(*spare) : std::vector<float>(model_.batch_size() * image_size_);
    return batch;
  }

  void PrepareInto(FetchedImage fetched, PreparedBatch& batch) const {
    const char* const stage = "decode";
    const auto slot = std::span(batch.tensor).subspan(batch.items.size() * image_size_, image_size_);
    auto prepared = ForOneInput<std::optional<ImageFailure>>(fetched.item, stage, [&] {
      const auto& bytes = *fetched.bytes;
      return embedder_.Prepare(std::span(bytes.data(), static_cast<std::size_t>(bytes.size())), slot);
    });
    if (auto* error = std::get_if<ErrorRow>(&prepared)) {
      batch.errors.push_back(std::move(*error));
    } else if (const auto& failure = std::get<std::optional<ImageFailure>>(prepared)) {
      batch.errors.push_back({fetched.item.location.uri(), failure->stage, failure->message});
    } else {
      batch.items.push_back(std::move(fetched.item));
    }
  }

  void InferLoop() {
    std::vector<float> features(model_.batch_size() * model_.feature_dim());
    while (auto prepared = prepared_.Pop()) {
      if (StopIfCancelled()) break;
      EmbeddedBatch batch;
      batch.errors = std::move(prepared->errors);
      if (!prepared->items.empty()) Embed(prepared->items, prepared->tensor, features, batch);
      spare_tensors_.TryPush(std::move(prepared->tensor));  // kept for reuse unless enough are
      if (!(batch.paths.empty() && batch.errors.empty()) && !embedded_.Push(std::move(batch))) return;
    }
    if (--inferers_left_ == 0) embedded_.Close();
  }

  void Embed(std::vector<InputItem>& items, std::span<const float> input, std::span<float> features,
             EmbeddedBatch& batch) {
    const std::size_t dim = model_.feature_dim();
    const auto failures = embedder_.Embed(input, items.size(), features);
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (failures[i]) {
        batch.errors.push_back({items[i].location.uri(), failures[i]->stage, failures[i]->message});
        continue;
      }
      const auto row = features.subspan(i * dim, dim);
      batch.keys.push_back(
          {items[i].listed_size.value_or(-1), items[i].listed_mtime_ms.value_or(-1), items[i].label});
      batch.paths.push_back(items[i].location.uri());
      batch.labels.push_back(std::move(items[i].label));
      batch.features.insert(batch.features.end(), row.begin(), row.end());
    }
  }

  void WriteLoop() {
    const Location errors_part = settings_.errors_folder.child(ErrorPartName(state_.attempt));
    ParquetFileWriter errors(errors_part, ErrorSchema());
    std::unique_ptr<ParquetFileWriter> part;
    std::size_t parts_started = 0;
    std::vector<float> rows_for_stats;
    const auto fold_into_stats = [&] {
      state_.stats.AddRows(rows_for_stats, rows_for_stats.size() / model_.feature_dim());
      rows_for_stats.clear();
    };
    while (auto batch = embedded_.Pop()) {
      if (!batch->errors.empty()) {
        errors.Write(*MakeErrorBatch(batch->errors));
        const auto failed = static_cast<std::int64_t>(batch->errors.size());
        state_.rows_failed += failed;
        progress_.AddFailed(failed);
      }
      if (batch->paths.empty()) continue;
      if (!part || part->rows_written() >= static_cast<std::int64_t>(settings_.rows_per_part)) {
        if (part) ClosePart(*part);
        state_.staged_parts.push_back(
            settings_.staging_folder.child(StagedPartName(state_.attempt, parts_started++)));
        part = std::make_unique<ParquetFileWriter>(state_.staged_parts.back(),
                                                   StagingSchema(model_.feature_dim()));
      }
      const FloatRows features{batch->features, model_.feature_dim()};
      part->Write(*MakeStagedBatch(batch->paths, batch->labels, features, batch->keys));
      const auto rows = batch->paths.size();
      rows_for_stats.insert(rows_for_stats.end(), features.values.begin(), features.values.end());
      if (rows_for_stats.size() >= CovarianceAccumulator::kRowsPerUpdate * model_.feature_dim())
        fold_into_stats();
      state_.rows_written += static_cast<std::int64_t>(rows);
      progress_.AddDone(static_cast<std::int64_t>(rows));
    }
    if (cancel_) return;  // leave the unfinished part unreadable rather than complete-looking
    fold_into_stats();
    if (part) ClosePart(*part);
    errors.Close();
    state_.error_parts.push_back(errors_part);
  }

  static void ClosePart(ParquetFileWriter& part) {
    part.Close();
    Failpoint("staged-part");
  }

  const ExtractionSettings& settings_;
  EmbeddingModel& model_;
  const ImageEmbedder embedder_;
  ProgressReporter& progress_;
  const std::atomic<bool>& cancel_;
  const std::size_t image_size_;
  ByteBudget read_budget_;  // before the queues: leases in them give back to it when they are destroyed
  BoundedQueue<InputItem> listed_;
  BoundedQueue<Fetched> fetched_;
  BoundedQueue<PreparedBatch> prepared_;
  BoundedQueue<std::vector<float>> spare_tensors_;
  BoundedQueue<EmbeddedBatch> embedded_;
  std::atomic<int> readers_left_{0};
  std::atomic<int> decoders_left_{0};
  std::atomic<int> inferers_left_{0};
  std::mutex listed_mutex_;  // state_.listed is filled by the listing and the readers
  RepeatedInputs repeated_;  // by the listing thread only
  ResumeState& state_;
};

}  // namespace

void ExtractFeatures(const ExtractionSettings& settings, EmbeddingModel& model, ProgressReporter& progress,
                     const std::atomic<bool>& cancel, ResumeState& state) {
  Extraction(settings, model, progress, cancel, state).Run();
}

}  // namespace orchard
