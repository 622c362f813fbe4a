#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "orchard/pipeline/output_layout.h"
#include "orchard/storage/location.h"

namespace orchard {

// The rules of every destructive path on an output folder (README, "--overwrite"), shared by `orchard run`
// and the Spark job (through the binding's `check_overwrite`): orchard deletes only what it wrote, and never
// an input.

// What a path or URI names, for comparing places: a local path absolute and normalised, its symbolic links
// resolved as far as it exists ("/a/b"; `file:` URIs too); a URI as "scheme://authority/key" without query,
// doubled or trailing '/', with s3a and s3n folded into s3 (the same buckets).
std::string ComparablePlace(std::string_view path_or_uri);

// Whether orchard (`orchard run` or the Spark job) writes the entry at `relative_path` ('/'-separated, below
// the output root): features/, errors/, _staging/ and their part-*.parquet files (and Spark's _SUCCESS,
// _temporary/ and Hadoop's .crc companions in them), _job.json, _SUCCESS, pca.parquet, pca_moments.parquet,
// inputs.parquet (also with an incremental run's attempt: pca-a001.parquet), the index files of `orchard
// index` (index.faiss, index_keys.parquet), their temporary names (TemporaryName()) and .crc companions.
bool IsOrchardOutputEntry(std::string_view relative_path);

// Throws UsageError naming the first of `entries` (relative paths below `output`) orchard did not write.
void CheckOnlyOrchardEntries(std::string_view output, std::span<const std::string> entries);

// The guard before anything in `output` is replaced. Throws UsageError, and so nothing is deleted, when the
// output equals, contains or lies inside the input (ComparablePlace(); prefixes on '/' boundaries), when it
// is a bucket root (a URI without key) and `allow_bucket_root` is false, when one of `entries` (its
// content, relative paths) is not an orchard entry (CheckOnlyOrchardEntries()), or when `entries` hold files
// but no job record (_job.json or _SUCCESS at the root): names alone do not prove orchard wrote them.
void CheckOverwrite(std::string_view input, std::string_view output, std::span<const std::string> entries,
                    bool allow_bucket_root);

// Every entry below `folder` (files and folders, recursively), as paths relative to `output.root`, sorted.
// A local symbolic link is refused (UsageError): orchard never writes one, and deleting through it could
// reach anything. Throws IoError when the storage cannot be listed.
std::vector<std::string> ListOutputEntries(const OutputLayout& output, const Location& folder);

// `orchard run --overwrite`: CheckOverwrite() on everything in `output`, then deletes exactly those entries.
void ClearOutput(const OutputLayout& output, const Location& input, bool allow_bucket_root);

// The files a report command writes into its --report folder: a JSON record and the page made from it, and
// the keys that tell an earlier record of orchard's (eval: metrics.json, report.html, {top1, per_class,
// confusion}; audit: audit.json, audit.html, {near_duplicates, label_issues, summary}).
struct ReportFiles {
  std::string_view record;
  std::string_view page;
  std::span<const std::string_view> record_keys;
};

// The guard before a report is written to the local folder `report` about the run output `output` (a path or
// URI). Throws UsageError, before any work, when the folder is or lies inside the output (its files would
// become part of the output: pyarrow then failed to read features/, and --incremental refused the output), or
// when the record or the page already exists there and is not a regular file of an earlier such report (its
// record a JSON object with `record_keys`): a report replaces only a report. Other files in the folder are
// left alone.
void CheckReportFolder(const std::string& report, std::string_view output, const ReportFiles& files);

}  // namespace orchard
