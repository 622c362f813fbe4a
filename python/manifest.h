#pragma once

#include <nanobind/nanobind.h>

namespace orchard::python {

// The job records `orchard run` writes, for another engine (orchard.spark) to write the same: _SUCCESS
// (RunManifest, pipeline/run_manifest.h) and _job.json (JobIdentity, pipeline/resume.h).
void BindManifest(nanobind::module_& m);

}  // namespace orchard::python
