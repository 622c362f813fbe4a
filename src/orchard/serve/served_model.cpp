#include "orchard/serve/served_model.h"

#include "orchard/common/error.h"
#include "orchard/storage/s3_filesystem.h"

namespace orchard {
namespace {

// An 8x8 grey PNG: the warm-up inference runs the whole path (decode, preprocess, model, classifier) once.
constexpr std::uint8_t kWarmUpPng[] = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x08, 0x08, 0x02, 0x00, 0x00, 0x00, 0x4b, 0x6d, 0x29,
    0xdc, 0x00, 0x00, 0x00, 0x15, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0xac, 0x68, 0xea, 0x61,
    0xc0, 0x06, 0x98, 0x18, 0x70, 0x80, 0xc1, 0x29, 0x01, 0x00, 0x34, 0xa7, 0x01, 0x96, 0x01, 0x64,
    0x5c, 0x2a, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};

std::string BatchMetrics(const InferenceBatcher::Stats& stats, const EmbeddingModel& model) {
  const double average = stats.batches == 0 ? 0.0 : static_cast<double>(stats.images) / stats.batches;
  std::string text =
      "# HELP orchard_inference_batch_size_average Images per model call on average (of the served "
      "version).\n"
      "# TYPE orchard_inference_batch_size_average gauge\n"
      "orchard_inference_batch_size_average " +
      std::to_string(average) +
      "\n# HELP orchard_model_compiled_batch The largest batch the model is compiled for (a call is padded "
      "to the smallest compiled batch holding it).\n"
      "# TYPE orchard_model_compiled_batch gauge\n"
      "orchard_model_compiled_batch " +
      std::to_string(model.batch_size()) +
      "\n# HELP orchard_inference_batch_size Images per model call (of the served version).\n"
      "# TYPE orchard_inference_batch_size histogram\n";
  std::uint64_t cumulative = 0;
  for (std::size_t size = 1; size < stats.by_size.size(); ++size) {
    cumulative += stats.by_size[size];
    text += "orchard_inference_batch_size_bucket{le=\"" + std::to_string(size) + "\"} " +
            std::to_string(cumulative) + "\n";
  }
  text += "orchard_inference_batch_size_bucket{le=\"+Inf\"} " + std::to_string(stats.batches) + "\n";
  text += "orchard_inference_batch_size_sum " + std::to_string(stats.images) + "\n";
  text += "orchard_inference_batch_size_count " + std::to_string(stats.batches) + "\n";
  text +=
      "# HELP orchard_inference_compiled_batch_calls_total Model calls by the compiled batch they ran on (of "
      "the served version): a static model is compiled at 1, 2, 4, ... up to --max-batch, a call runs on the "
      "smallest that holds its images, padded to it; \"dynamic\": any batch runs as is.\n"
      "# TYPE orchard_inference_compiled_batch_calls_total counter\n";
  for (const auto& [batch, calls] : stats.by_compiled_batch)
    text += "orchard_inference_compiled_batch_calls_total{compiled_batch=\"" +
            (batch == 0 ? std::string("dynamic") : std::to_string(batch)) + "\"} " + std::to_string(calls) +
            "\n";
  return text;
}

// The batches compiled beside max_batch: the powers of two under it (1, 2, 4, 8 for 16), as a serving
// system's preferred batch sizes. A batch of n runs on the smallest holding n, so padding at most doubles its
// work: with only 1 and 16, the 2 to 4 images of 4 concurrent clients each paid a batch of 16.
std::vector<std::size_t> Ladder(std::size_t max_batch) {
  std::vector<std::size_t> sizes;
  for (std::size_t size = 1; size < max_batch; size *= 2) sizes.push_back(size);
  return sizes;
}

}  // namespace

ServedModel::ServedModel(Bundle bundle, const std::string& version, const ServeOptions& options)
    : recognizer(std::move(bundle), options.model_threads, options.max_pixels, options.max_batch,
                 Ladder(options.max_batch)),
      batcher(recognizer, options.max_batch, options.max_wait),
      info{options.model_name, version, recognizer.bundle().labels.size(), recognizer.feature_dim()},
      similar(OpenServedIndex(options.index, recognizer.bundle())),
      max_batch_(options.max_batch) {}

void ServedModel::WarmUp() {
  // Every compiled batch runs once (a new version's too, before it is swapped in), the full batch last: the
  // model's buffers for the largest batch are allocated now, so the RSS once ready is the base of the memory
  // formula (README, "serve").
  std::vector<std::size_t> sizes = recognizer.model().compiled_batches();
  if (sizes.back() != max_batch_) sizes.push_back(max_batch_);
  for (const std::size_t size : sizes) {
    std::vector<PreparedImage> images(size, recognizer.Prepare(kWarmUpPng));
    auto arrival = batcher.Expect(size);
    for (const auto& result :
         batcher.SubmitAll(std::move(images), {1, false}, arrival, InferenceBatcher::Traffic::kWarmUp))
      if (!result.ok()) throw ModelError("warm-up inference failed: " + result.error);
  }
}

ModelManager::ModelManager(const ServeOptions& options, LogSink& log) : options_(options), log_(log) {
  if (options.bundle.empty() == options.model_repository.empty())
    throw UsageError("serve needs exactly one of --bundle and --model-repository");
  SetS3Endpoint(options.s3_endpoint);
  if (!options.bundle.empty()) {
    current_ = Load(LoadBundleFrom(ResolveLocation(options.bundle)), "1");
    return;
  }
  repository_.emplace(options.model_repository, options.model_name);
  const auto versions = repository_->Versions();
  if (versions.empty()) throw IoError(repository_->uri() + ": no version folder <N>/ holding a bundle.json");
  // The highest version that loads; a broken one is reported (metrics, log) as when it appears later.
  for (const auto& version : versions) {
    try {
      current_ = Load(repository_->Load(version.number), std::to_string(version.number));
      current_version_ = version.number;
      break;
    } catch (const std::exception& e) {
      if (&version == &versions.back()) throw;
      Failed(version, "", e.what());
    }
  }
  if (options.poll_period.count() > 0) poller_ = std::thread([this] { Poll(); });
}

void ModelManager::Failed(const RepositoryVersion& version, const std::string& keeping,
                          const std::string& reason) {
  log_.Line("orchard: version " + std::to_string(version.number) + " of " + options_.model_name +
            " cannot be served" + keeping + ": " + reason);
  std::lock_guard lock(mutex_);
  ++loads_failed_;
  failed_[version.number] = version.fingerprint;
}

ModelManager::~ModelManager() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (poller_.joinable()) poller_.join();
}

std::shared_ptr<ServedModel> ModelManager::Load(Bundle bundle, const std::string& version) {
  auto model = std::make_shared<ServedModel>(std::move(bundle), version, options_);
  std::string notes = model->recognizer.model().NotesText();
  if (!notes.empty()) log_.Line(notes.substr(0, notes.size() - 1));  // as predict and run say them
  return model;
}

bool ModelManager::Update() {
  std::vector<RepositoryVersion> versions;
  try {
    versions = repository_->Versions();
  } catch (const std::exception& e) {
    log_.Line("orchard: cannot list the model repository, keeping version " +
              std::to_string(current_version_) + ": " + e.what());
    return false;
  }
  {
    // A failed version removed from the repository is no longer reported.
    std::lock_guard lock(mutex_);
    std::erase_if(failed_, [&](const auto& failed) {
      return std::ranges::none_of(versions, [&](const auto& v) { return v.number == failed.first; });
    });
  }
  // The highest newer version that loads and warms up: a broken newest one does not hold back the one below.
  for (const auto& newer : versions) {
    if (newer.number <= current_version_) break;
    {
      std::lock_guard lock(mutex_);
      const auto failed = failed_.find(newer.number);
      if (failed != failed_.end() && failed->second == newer.fingerprint) continue;
    }
    const std::string version = std::to_string(newer.number);
    try {
      auto model = Load(repository_->Load(newer.number), version);
      model->WarmUp();
      current_.store(std::move(model));  // requests in flight keep the version they started on
      current_version_ = newer.number;
      std::lock_guard lock(mutex_);
      ++loads_ok_;
      failed_.erase(newer.number);
    } catch (const std::exception& e) {
      Failed(newer, ", keeping version " + std::to_string(current_version_), e.what());
      continue;
    }
    log_.Line("orchard: now serving " + options_.model_name + " version " + version);
    return true;
  }
  return false;
}

void ModelManager::Poll() {
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, options_.poll_period, [this] { return stopping_; })) {
    lock.unlock();
    Update();
    lock.lock();
  }
}

std::string ModelManager::MetricsText() const {
  const auto model = current();
  std::string text =
      "# HELP orchard_model_version The model version being served.\n"
      "# TYPE orchard_model_version gauge\n"
      "orchard_model_version{model=\"" +
      model->info.name + "\"} " + model->info.version + "\n";
  std::lock_guard lock(mutex_);
  text +=
      "# HELP orchard_model_loads_total New versions loaded from the repository, by result.\n"
      "# TYPE orchard_model_loads_total counter\n"
      "orchard_model_loads_total{result=\"ok\"} " +
      std::to_string(loads_ok_) + "\norchard_model_loads_total{result=\"failed\"} " +
      std::to_string(loads_failed_) +
      "\n# HELP orchard_model_version_failed Versions that failed to load or warm up (1), not served.\n"
      "# TYPE orchard_model_version_failed gauge\n";
  for (const auto& [version, fingerprint] : failed_)
    text += "orchard_model_version_failed{model=\"" + model->info.name + "\",version=\"" +
            std::to_string(version) + "\"} 1\n";
  return text + BatchMetrics(model->batcher.stats(), model->recognizer.model());
}

}  // namespace orchard
