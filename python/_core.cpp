// orchard._core, the C++ core for Python (orchard.spark runs it inside Spark's Python workers). Two shapes of
// the same functions: numpy arrays and Python lists for interactive use, and Arrow record batches through the
// Arrow PyCapsule interface (arrow_capsule.h) for mapInArrow, zero-copy both ways. All work runs with the GIL
// released.
#include <nanobind/nanobind.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/string_view.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include "arrow_capsule.h"
#include "featurizer.h"
#include "jobs.h"
#include "manifest.h"
#include "orchard/common/error.h"
#include "orchard/pipeline/output_guard.h"
#include "orchard/pipeline/output_lock.h"
#include "orchard/storage/input_listing.h"
#include "orchard/storage/location.h"
#include "pca_functions.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace {

// The one place orchard's errors become Python's: bad arguments or a bad input -> ValueError, storage ->
// OSError, model -> RuntimeError.
void TranslateOrchardErrors(const std::exception_ptr& p, void*) {
  try {
    std::rethrow_exception(p);
  } catch (const orchard::UsageError& e) {
    PyErr_SetString(PyExc_ValueError, e.what());
  } catch (const orchard::InputError& e) {
    PyErr_SetString(PyExc_ValueError, e.what());
  } catch (const orchard::ModelError& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
  } catch (const orchard::IoError& e) {
    PyErr_SetString(PyExc_OSError, e.what());
  }
}

void BindFeaturizer(nb::module_& m) {
  // `orchard run`'s batch: at f32 the default model's then dynamic batch of 32 was 6 % slower than 8 (Spark
  // job, whole sample, 2026-12-01).
  constexpr std::size_t kBatch = orchard::ModelOptions::kDefaultModelBatch;
  m.attr("DEFAULT_BATCH") = kBatch;
  using orchard::python::Featurizer;
  nb::class_<Featurizer>(m, "Featurizer")
      .def(nb::init<const std::string&, const std::string&, const std::string&, const std::string&, int,
                    std::uint64_t, std::int64_t>(),
           "model_path"_a, "preset"_a = "", "feature_tensor"_a = "", "precision"_a = "f32", "threads"_a = 0,
           "max_pixels"_a = 100'000'000ULL, "max_file_bytes"_a = orchard::kDefaultMaxFileBytes,
           "Compiles the model once (an ONNX/TFLite path or URI); preset: imagenet | caffe | tf | raw, '' = "
           "the model's default (raw for a uint8/int8 input, else imagenet).")
      .def_prop_ro("feature_dim", &Featurizer::feature_dim)
      .def_prop_ro("feature_tensor", &Featurizer::feature_tensor)
      .def_prop_ro("sha256", &Featurizer::sha256)
      .def_prop_ro("preprocess", &Featurizer::preprocess_json,
                   "The preprocessing spec applied, as JSON text (`orchard run`'s _SUCCESS `preprocess`).")
      .def("featurize", &Featurizer::Featurize, "paths"_a, "contents"_a = nb::none(), "batch"_a = kBatch,
           "Returns (features float32[n, D], errors [(index, stage, message)]). Row i belongs to "
           "input i; rows of failed inputs are NaN. Without contents (or where an entry is None), the path "
           "is read by the C++ side (local path or s3:// URI). A bad or missing image is an error entry; "
           "storage that fails otherwise raises OSError, so that a Spark task fails and is retried.")
      .def("featurize_arrow", &Featurizer::FeaturizeArrow, "batches"_a, "batch"_a = kBatch,
           "Arrow batches (__arrow_c_array__ or __arrow_c_stream__) with a string column `path` and "
           "optionally a binary column `content` (null or absent: the path is read) and an int64 column "
           "`length` "
           "(over max_file_bytes: a read error row, the content not looked at) -> ArrowBatches of "
           "path (file: prefix dropped), label (parent folder), features list<float> (null on error), "
           "stage, message (null if ok). Or a struct column `image` as spark.read.format('image') reads it "
           "(origin, height, width, nChannels, mode, data: decoded gray/BGR/BGRA pixels): path = origin, the "
           "pixels preprocessed as decoded files are; an undecodable or inconsistent picture is a decode "
           "error "
           "row. Image bytes are read in place, never copied. Errors as featurize.");
}

}  // namespace

NB_MODULE(_core, m) {
  m.doc() = "orchard's C++ core: featurisation (decode, preprocess, OpenVINO) and exact PCA";
  m.attr("__version__") = ORCHARD_VERSION;
  nb::register_exception_translator(&TranslateOrchardErrors);
  orchard::python::ArrowBatches::Bind(m);
  BindFeaturizer(m);
  orchard::python::BindJobs(m);
  orchard::python::BindManifest(m);
  orchard::python::BindPcaFunctions(m);
  m.def("output_path", &orchard::python::OutputPath, "path_or_uri"_a,
        "The path as `orchard run` writes it: Spark's `file:/a/b c.jpg` -> `/a/b c.jpg`; others unchanged.");
  m.def(
      "folder_label",
      [](const std::string& path) {
        return orchard::FolderLabel({nullptr, path});
      },
      "path"_a,
      "The label `orchard run` gives a file listed without one: the name of the folder that holds it.");
  m.def(
      "check_overwrite",
      [](const std::string& input, const std::string& output, const std::vector<std::string>& entries,
         bool overwrite_bucket_root) {
        orchard::CheckOverwrite(input, output, entries, overwrite_bucket_root);
      },
      "input"_a, "output"_a, "entries"_a, "overwrite_bucket_root"_a = false,
      "`orchard run --overwrite`'s guard (the same C++ function): raises ValueError, naming the reason, when "
      "replacing `output` could delete data orchard did not write: the output equals, contains or lies "
      "inside "
      "the input (local paths with symbolic links resolved, s3/s3a URIs by bucket and key), it is a bucket "
      "root without overwrite_bucket_root, or one of `entries` (relative paths of the files below the "
      "output) "
      "is not a file orchard writes.");
  nb::class_<orchard::OutputLock>(
      m, "OutputLock",
      "`orchard run`'s lock on a local output folder (flock(2)), held until released "
      "or collected; never held for an object store's folder.")
      .def_prop_ro("held", &orchard::OutputLock::held)
      .def(
          "release", [](orchard::OutputLock& lock) { lock = orchard::OutputLock(); },
          "Releases the lock (a no-op once released).");
  m.def(
      "lock_output",
      [](const std::string& folder) {
        return orchard::OutputLock::Acquire(orchard::ResolveLocation(folder));
      },
      "folder"_a,
      "Locks the existing output folder as `orchard run` does while it writes there: raises ValueError when "
      "another process (an `orchard run`, `orchard index` or Spark job) holds it, OSError when the folder "
      "cannot be opened. Returns an OutputLock (an unheld one for an s3:// folder).");
}
