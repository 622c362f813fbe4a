#pragma once

#include <nanobind/nanobind.h>

namespace orchard::python {

// orchard.run / train / evaluate and the Recognizer behind orchard.Bundle: the library's RunJob, TrainBundle,
// EvaluateBundle and Recognizer with Python types, the GIL released while they work.
void BindJobs(nanobind::module_& m);

}  // namespace orchard::python
