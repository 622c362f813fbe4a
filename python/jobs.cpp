#include "jobs.h"

#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <sstream>
#include <streambuf>
#include <string>
#include <thread>
#include <vector>

#include "numpy_arrays.h"
#include "orchard/common/config.h"
#include "orchard/common/error.h"
#include "orchard/image/image.h"
#include "orchard/pipeline/run_job.h"
#include "orchard/recognition/recognizer.h"
#include "orchard/recognition/run_evaluation.h"
#include "orchard/recognition/training.h"
#include "orchard/storage/location.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace orchard::python {
namespace {

// RunJob's log, written from the job's threads and read line by line by the Python thread.
class LogLines : public std::streambuf {
 public:
  std::vector<std::string> Take() {
    std::lock_guard lock(mutex_);
    std::vector<std::string> lines;
    lines.swap(lines_);
    return lines;
  }

 protected:
  int_type overflow(int_type c) override {
    if (c == traits_type::eof()) return traits_type::not_eof(c);
    std::lock_guard lock(mutex_);
    if (c == '\n') {
      lines_.push_back(std::move(partial_));
      partial_.clear();
    } else {
      partial_.push_back(traits_type::to_char_type(c));
    }
    return c;
  }

 private:
  std::mutex mutex_;
  std::string partial_;
  std::vector<std::string> lines_;
};

// RunJob on a thread of its own, so that the Python thread can wait with the GIL released and still see
// Ctrl-C: Python runs signal handlers on its main thread only, here between waits (PyErr_CheckSignals).
class WatchedRun {
 public:
  WatchedRun(RunOptions options, nb::object on_progress, nb::object on_log)
      : on_progress_(std::move(on_progress)), on_log_(std::move(on_log)) {
    options.progress_listener = [this](const ProgressSnapshot& s) {
      std::lock_guard lock(mutex_);
      latest_ = s;
      fresh_ = true;
    };
    worker_ = std::thread([this, options = std::move(options)] {
      try {
        summary_ = RunJob(options, cancel_, log_stream_);
      } catch (...) {
        error_ = std::current_exception();
      }
      std::lock_guard lock(mutex_);
      done_ = true;
      wake_.notify_all();
    });
  }

  ~WatchedRun() {
    cancel_ = true;
    if (worker_.joinable()) {
      nb::gil_scoped_release release;
      worker_.join();
    }
  }

  // Waits for the job; raises what the job threw, or the Python exception (KeyboardInterrupt) that stopped
  // it.
  RunSummary Wait() {
    for (bool done = false; !done;) {
      {
        nb::gil_scoped_release release;
        std::unique_lock lock(mutex_);
        done = wake_.wait_for(lock, std::chrono::milliseconds(100), [this] { return done_; });
      }
      Report();
    }
    {
      nb::gil_scoped_release release;
      worker_.join();
    }
    Report();
    if (pending_) throw *pending_;
    if (error_) std::rethrow_exception(error_);
    return summary_;
  }

 private:
  // Calls the Python callbacks and checks for signals; a Python exception stops the job and is kept.
  void Report() {
    try {
      if (PyErr_CheckSignals() != 0) throw nb::python_error();
      for (const auto& line : lines_.Take()) on_log_(line);
      std::optional<ProgressSnapshot> snapshot;
      {
        std::lock_guard lock(mutex_);
        if (fresh_) snapshot = latest_;
        fresh_ = false;
      }
      if (snapshot && !on_progress_.is_none())
        on_progress_(snapshot->processed, snapshot->total, snapshot->failed, snapshot->known_total);
    } catch (nb::python_error& e) {
      cancel_ = true;
      if (!pending_) pending_.emplace(std::move(e));
    }
  }

  nb::object on_progress_;
  nb::object on_log_;
  LogLines lines_;
  std::ostream log_stream_{&lines_};
  std::atomic<bool> cancel_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool done_ = false;
  bool fresh_ = false;
  ProgressSnapshot latest_;
  RunSummary summary_;
  std::exception_ptr error_;
  std::optional<nb::python_error> pending_;
  std::thread worker_;
};

nb::dict Run(const std::string& input, const std::string& output, const std::string& model,
             const std::string& preprocess, const std::string& feature_tensor,
             std::optional<std::size_t> pca_k, double pca_variance, const std::string& precision, int batch,
             int streams, int threads, int io_threads, bool overwrite, bool overwrite_bucket_root,
             bool incremental, std::uint64_t max_pixels, std::int64_t max_file_bytes,
             std::size_t rows_per_part, const std::string& s3_endpoint, nb::object on_progress,
             nb::object on_log) {
  RunOptions options;
  options.input = input;
  options.output = output;
  options.model.path = model;
  options.model.feature_tensor = feature_tensor;
  options.model.precision = ParsePrecision(precision);
  options.model.batch_size = batch;
  options.model.streams = streams;
  options.model.threads = threads;
  options.threads = threads;
  options.io_threads = io_threads;
  options.preprocess_preset = preprocess;
  if (pca_k) options.pca.k = *pca_k;
  options.pca.variance_fraction = pca_variance;
  options.overwrite = overwrite;
  options.overwrite_bucket_root = overwrite_bucket_root;
  options.incremental = incremental;
  options.max_pixels = max_pixels;
  options.max_file_bytes = max_file_bytes;
  options.rows_per_part = rows_per_part;
  options.s3_endpoint = s3_endpoint;
  RunSummary summary;
  try {
    WatchedRun run(std::move(options), std::move(on_progress), std::move(on_log));
    summary = run.Wait();
  } catch (const Cancelled&) {
    PyErr_SetString(PyExc_KeyboardInterrupt, (output + " has no _SUCCESS").c_str());
    throw nb::python_error();
  }
  nb::dict result;
  result["seen"] = summary.seen;
  result["written"] = summary.written;
  result["failed"] = summary.failed;
  result["attempt_images"] = summary.attempt_images;
  result["wall_seconds"] = summary.wall_seconds;
  result["images_per_second"] = summary.images_per_second;
  result["manifest"] = summary.manifest.dump();
  return result;
}

nb::tuple Train(const std::string& output, const std::string& bundle, const std::string& split,
                std::optional<double> c, bool standardize) {
  TrainOptions options;
  options.output = output;
  options.bundle = bundle;
  options.split = split;
  if (c) {  // else `orchard train`'s default C
    options.classifier.c = *c;
    options.c_candidates = {*c};
  }
  options.classifier.standardize = standardize;
  std::ostringstream log;
  TrainResult result;
  {
    nb::gil_scoped_release release;
    result = TrainBundle(options, log);
  }
  return nb::make_tuple(result.training.dump(), log.str());
}

nb::tuple Evaluate(const std::string& output, const std::string& bundle, const std::string& split,
                   const std::string& report) {
  std::ostringstream log;
  nlohmann::json metrics;
  {
    nb::gil_scoped_release release;
    metrics = EvaluateBundle({output, bundle, split, report}, log);
  }
  return nb::make_tuple(metrics.dump(), log.str());
}

// (label or None when unknown, unknown, unknown_score or None, top_k [(label, probability)], features
// float32[D], pca float32[k]) of one recognised image: Recognition's own fields, Recognition::label() decides
// the label. ValueError (InputError) naming the reason when it could not be recognised.
nb::tuple ToPython(Recognition result, const std::string& what) {
  if (!result.ok()) throw InputError(what + result.error);
  nb::list scored;
  for (const auto& s : result.top_k) scored.append(nb::make_tuple(s.label, s.probability));
  const auto label = result.label();
  const std::size_t dim = result.features.size(), k = result.pca.size();
  return nb::make_tuple(label ? nb::object(nb::str(label->c_str())) : nb::none(), result.unknown,
                        result.unknown_score ? nb::object(nb::float_(*result.unknown_score)) : nb::none(),
                        scored, ToNumpy(std::move(result.features), {dim}),
                        ToNumpy(std::move(result.pca), {k}));
}

// The file's bytes; a file that is missing or not readable as one input is an InputError naming it.
std::shared_ptr<arrow::Buffer> ReadNamed(const std::string& path) {
  try {
    return ReadAll(ResolveLocation(path), {}, kDefaultMaxFileBytes);
  } catch (const InputError& e) {
    throw InputError(path + ": cannot read: " + e.what());
  }
}

// One encoded image, by path/URI (read by the C++ side) or as bytes.
nb::tuple PredictEncoded(Recognizer& recognizer, std::optional<std::string> path,
                         std::optional<nb::bytes> content, std::size_t top_k) {
  if (path.has_value() == content.has_value()) throw UsageError("predict: give exactly one of path, content");
  std::string bytes = content ? std::string(content->c_str(), content->size()) : std::string();
  Recognition result;
  {
    nb::gil_scoped_release release;
    std::shared_ptr<arrow::Buffer> read;
    if (path) read = ReadNamed(*path);
    const auto image = read ? std::span(read->data(), static_cast<std::size_t>(read->size()))
                            : std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    result = std::move(recognizer.Recognize(std::span(&image, 1), {top_k, true}).front());
  }
  return ToPython(std::move(result), path ? *path + ": " : std::string());
}

using RgbPixels = nb::ndarray<const std::uint8_t, nb::ndim<3>, nb::c_contig, nb::device::cpu>;

// One image as decoded pixels: uint8 [H, W, 3], R, G, B.
nb::tuple PredictPixels(Recognizer& recognizer, RgbPixels pixels, std::size_t top_k) {
  if (pixels.shape(2) != 3) {
    throw UsageError("predict: pixels must be uint8 [H, W, 3] in R, G, B order; got " +
                     std::to_string(pixels.shape(2)) + " channels");
  }
  Image image{static_cast<int>(pixels.shape(1)), static_cast<int>(pixels.shape(0)),
              std::vector<std::uint8_t>(pixels.data(), pixels.data() + pixels.size())};
  Recognition result;
  {
    nb::gil_scoped_release release;
    const PreparedImage prepared = recognizer.PreparePixels(image);
    const PreparedImage* batch[] = {&prepared};
    result = std::move(recognizer.Classify(batch, {top_k, true}).front());
  }
  return ToPython(std::move(result), "");
}

}  // namespace

void BindJobs(nb::module_& m) {
  m.def("run", &Run, "input"_a, "output"_a, "model"_a, "preprocess"_a, "feature_tensor"_a, "pca_k"_a.none(),
        "pca_variance"_a, "precision"_a, "batch"_a, "streams"_a, "threads"_a, "io_threads"_a, "overwrite"_a,
        "overwrite_bucket_root"_a, "incremental"_a, "max_pixels"_a, "max_file_bytes"_a, "rows_per_part"_a,
        "s3_endpoint"_a, "on_progress"_a.none(), "on_log"_a,
        "RunJob (the job of `orchard run`); orchard.run wraps it. on_progress(processed, total, failed, "
        "known_total) and on_log(line) are called on this thread.");
  m.def(
      "default_model", [] { return DefaultModelPath().string(); },
      "The model `orchard run` uses without --model (ORCHARD_SHARED/models/mobilenetv2-12-int8.onnx).");
  m.def("train", &Train, "output"_a, "bundle"_a, "split"_a, "c"_a.none(), "standardize"_a,
        "TrainBundle -> (training JSON, log text); orchard.train wraps it.");
  m.def("evaluate", &Evaluate, "output"_a, "bundle"_a, "split"_a, "report"_a,
        "EvaluateBundle -> (metrics JSON, log text); orchard.evaluate wraps it.");
  nb::class_<Recognizer>(m, "Recognizer")
      .def(
          "__init__",
          [](Recognizer* self, const std::string& dir, int threads, std::uint64_t max_pixels) {
            nb::gil_scoped_release release;  // loading and compiling the model take seconds
            new (self) Recognizer(Bundle::Load(dir), threads, max_pixels);
          },
          "bundle_dir"_a, "threads"_a = 0, "max_pixels"_a = 100'000'000ULL)
      .def_prop_ro("labels", [](const Recognizer& r) { return r.bundle().labels; })
      .def_prop_ro("feature_dim", &Recognizer::feature_dim)
      .def_prop_ro("pca_k", [](const Recognizer& r) { return r.bundle().pca.k(); })
      .def_prop_ro("training", [](const Recognizer& r) { return r.bundle().training.dump(); })
      .def("predict", &PredictEncoded, "path"_a.none() = nb::none(), "content"_a.none() = nb::none(),
           "top_k"_a = 5,
           "One image by path/URI or encoded bytes -> (label or None when unknown, unknown, unknown_score or "
           "None, top_k [(label, probability)], features float32[D], pca float32[k]); orchard.Bundle.predict "
           "wraps it.")
      .def("predict_pixels", &PredictPixels, "pixels"_a, "top_k"_a = 5,
           "The same for decoded pixels: uint8 [H, W, 3], R, G, B, C-contiguous.");
}

}  // namespace orchard::python
