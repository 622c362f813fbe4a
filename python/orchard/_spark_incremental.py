"""orchard.spark's incremental runs (docs/incremental.md, "The Spark job"): the files an output keeps so that a later
run updates it (input inventory, PCA moments, _job.json), and the update itself: which inputs to featurise, which
rows to drop, the moments of the rows kept. The same files and rules as `orchard run --incremental`, so either
engine updates the other's output.
"""

import json
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ._spark_output import (OutputRefused, check_output, child, delete_file, delete_folder, exists, list_files,
                            parquet_bytes, read_file, write_file)

MOMENTS_KEY = "orchard.moments"  # the metadata key of moments_file.h
INVENTORY_SCHEMA = pa.schema([pa.field("path", pa.string(), False), pa.field("size", pa.int64(), False),
                              pa.field("mtime_ms", pa.int64(), False), pa.field("label", pa.string(), False)])


def _escaped(source):
    """A listed Hadoop path for DataFrameReader.load, which expands glob characters: escaped, it names only
    that file."""
    return "".join("\\" + c if c in "\\{}[]*?" else c for c in source)


def list_inputs(spark, input):
    """Every input below INPUT as the job lists it (Spark's binaryFile source, contents not read): a table of
    source (the Hadoop path), path (as the rows name it, orchard.output_path), size (bytes), mtime_ms
    (modification time, milliseconds since the epoch) and label (orchard.folder_label): `orchard run`'s key."""
    from orchard import folder_label, output_path
    scan = (spark.read.format("binaryFile").option("recursiveFileLookup", "true").load(str(input))
            .selectExpr("path AS source", "length AS size", "unix_millis(modificationTime) AS mtime_ms"))
    table = scan.toArrow()
    paths = [output_path(source) for source in table.column("source").to_pylist()]
    return (table.append_column("path", pa.array(paths, pa.string()))
            .append_column("label", pa.array([folder_label(path) for path in paths], pa.string())))


def _keys(table):
    """The input key of each row of an inventory or listing, (size, mtime_ms, label), as InputKey compares them;
    an inventory without labels (written before 2026-12-03) gives empty ones, so its inputs are featurised again
    once, as `orchard run` does."""
    labels = table.column("label").to_pylist() if "label" in table.column_names else [""] * table.num_rows
    return list(zip(table.column("size").to_pylist(), table.column("mtime_ms").to_pylist(), labels))


def inventory_bytes(listed):
    """inputs.parquet (input_inventory.h) of a table of path, size, mtime_ms and label (list_inputs()'s, or a
    fresh job's featurised rows')."""
    return parquet_bytes(listed.select(INVENTORY_SCHEMA.names).cast(INVENTORY_SCHEMA))


def moments_bytes(total, dim):
    """pca_moments.parquet (moments_file.h) of a (count, mean, scatter) partial; `total` None (no feature rows):
    count 0 and zeros of `dim`."""
    count, mean, scatter = total if total is not None else (0, np.zeros(dim), np.zeros((dim, dim)))
    dim = len(mean)
    metadata = {"format_version": 1, "count": int(count), "dim": dim}
    schema = pa.schema([pa.field("mean", pa.float64(), False), pa.field("scatter", pa.list_(pa.float64(), dim), False)],
                       metadata={MOMENTS_KEY: json.dumps(metadata)})
    rows = pa.FixedSizeListArray.from_arrays(pa.array(np.asarray(scatter, dtype=np.float64).reshape(-1)), dim)
    return parquet_bytes(pa.Table.from_arrays([pa.array(np.asarray(mean, dtype=np.float64)), rows], schema=schema))


def _read_moments(data, uri):
    table = pq.read_table(pa.BufferReader(data))
    metadata = json.loads((table.schema.metadata or {}).get(MOMENTS_KEY.encode(), b"null"))
    if not metadata or metadata.get("format_version") != 1:
        raise OSError(f"{uri}: not an orchard moments file")
    dim = metadata["dim"]
    scatter = table.column("scatter").combine_chunks().flatten().to_numpy().reshape(dim, dim)
    return metadata["count"], table.column("mean").to_numpy().copy(), np.ascontiguousarray(scatter)


def partial_of(table):
    """covariance_partial_arrow's row -> (count, mean float64[D], scatter float64[D, D]); None for no row."""
    if table is None or table.num_rows == 0:
        return None
    mean = table.column("mean")[0].values.to_numpy()
    scatter = table.column("scatter")[0].values.to_numpy().reshape(len(mean), len(mean))
    return table.column("count")[0].as_py(), mean.copy(), scatter.copy()


@dataclass
class Previous:
    """The finished job an update starts from: its manifest, its parts and what it recorded."""
    manifest: dict
    features: list  # URIs of its feature parts
    errors: list  # URIs of its error parts
    inventory: dict  # path -> (size, mtime_ms, label), without the inputs that failed
    moments: tuple  # (count, mean, scatter) of all its feature rows
    failed: set = field(default_factory=set)  # paths of its error rows: tried again whatever their key

    @property
    def attempt(self):
        return self.manifest["attempt"]["number"] + 1


def listed_files(manifest):
    """Every file a _SUCCESS lists under "files", relative to the output root (incremental.h, ListedFiles)."""
    names = []
    for listed in manifest["files"].values():
        names.extend([listed] if isinstance(listed, str) else listed or [])
    return names


def prepare_update(spark, input, output, identity):
    """`orchard run --incremental`'s guards and clean-up for the finished job in OUTPUT: only orchard's entries
    there (orchard.check_overwrite), a job that recorded its inputs and moments, the same _job.json as `identity`
    (job_identity's text); then deletes what a crashed update left (orchard's files _SUCCESS does not list) and
    reads the inventory and moments. Raises OutputRefused before anything is deleted."""
    from orchard import check_overwrite
    from orchard._core import check_listed_files
    text = read_file(spark, child(output, "_SUCCESS"))
    try:
        check_listed_files(text.decode(), child(output, "_SUCCESS"))
    except OSError as error:
        raise OutputRefused(str(error)) from None
    manifest = json.loads(text)
    entries = list_files(spark, output)
    try:
        check_overwrite(str(input), str(output), entries, True)
    except ValueError as error:
        raise OutputRefused(str(error)) from None
    files = manifest.get("files", {})
    if "inputs" not in files or "pca_moments" not in files or "_job.json" not in entries:
        raise OutputRefused(f"output {output} holds a job finished by an older orchard, which kept no input "
                            "inventory for --incremental; replace it once with --overwrite")
    recorded = json.loads(read_file(spark, child(output, "_job.json")))
    if recorded != json.loads(identity):
        raise OutputRefused(f"output {output} holds a job with other settings ({json.dumps(recorded)}); pass "
                            "--overwrite to replace it")
    keep = {"_SUCCESS", "_job.json", *listed_files(manifest)}
    missing = sorted(keep - set(entries))
    if missing:  # a stale _SUCCESS: the unlisted files may be the only good copy of the rows (incremental.cpp)
        raise OutputRefused(f"{child(output, '_SUCCESS')} lists {missing[0]}, which is missing; nothing was deleted "
                            "(restore it, or replace the output with --overwrite)")
    for entry in entries:
        if entry not in keep:
            delete_file(spark, child(output, entry))
    inventory = pq.read_table(pa.BufferReader(read_file(spark, child(output, files["inputs"]))))
    errors = [child(output, name) for name in files["errors"]]
    failed = {path for uri in errors for path in
              pq.read_table(pa.BufferReader(read_file(spark, uri)), columns=["path"]).column("path").to_pylist()}
    keys = {path: key for path, key in zip(inventory.column("path").to_pylist(), _keys(inventory))
            if path not in failed}
    moments_uri = child(output, files["pca_moments"])
    return Previous(manifest, [child(output, name) for name in files["features"]], errors, keys,
                    _read_moments(read_file(spark, moments_uri), moments_uri), failed)


@dataclass
class Plan:
    """An update's work: the inputs to featurise, and the rows of the finished job to leave out."""
    sources: list  # Hadoop paths of the new and replaced inputs, for DataFrameReader.load
    dropped: set = field(default_factory=set)  # paths whose old rows are left out
    changes: dict = field(default_factory=dict)  # _SUCCESS `incremental`


def plan_update(listed, previous):
    """The inventory's inputs deleted or listed with another key are dropped, and the listed inputs not in the
    inventory with their key are featurised (their old rows, if any, are dropped too: a path's row always comes
    from the bytes the inventory keys); so are the inputs that failed (not in `previous.inventory`), as
    `orchard run --incremental` does."""
    keys = dict(zip(listed.column("path").to_pylist(), _keys(listed)))
    changed = {path for path, key in previous.inventory.items() if keys.get(path) != key}
    todo = [(source, path) for source, path in zip(listed.column("source").to_pylist(), keys)
            if previous.inventory.get(path) != keys[path]]
    unchanged = len(previous.inventory) - len(changed)
    replaced = sum(path in keys for path in changed)
    retried = sum(path in keys for path in previous.failed)
    changes = {"previous_attempt": previous.manifest["attempt"]["number"], "unchanged": unchanged,
               "new": len(keys) - unchanged - replaced - retried, "replaced": replaced, "retried": retried,
               "removed": len(changed) - replaced + len(previous.failed) - retried}
    dropped = changed | previous.failed | {path for _, path in todo}
    return Plan([_escaped(source) for source, _ in todo], dropped, changes)


def carried_rows(spark, previous, dropped):
    """The finished job's rows as DataFrames: (kept features path, label, features; kept errors path, stage,
    message; features of the dropped rows), None where it has no parts. The old parts are read lazily, by the
    update's write and its moments."""
    from pyspark.sql import functions as F
    drop = F.broadcast(spark.createDataFrame([(path,) for path in sorted(dropped)], "path string"))

    def split(parts, columns):
        if not parts:
            return None, None
        rows = spark.read.parquet(*parts).select(*columns)
        return rows.join(drop, "path", "left_anti").select(*columns), rows.join(drop, "path", "left_semi")

    features, dropped_features = split(previous.features, ["path", "label", "features"])
    errors, _ = split(previous.errors, ["path", "stage", "message"])
    return features, errors, dropped_features


def kept_moments(previous, dropped_partial):
    """The stored moments of the finished job's rows minus those of the dropped rows (Chan's update backwards)."""
    from orchard import subtract_partial
    if dropped_partial is None:
        return previous.moments
    return subtract_partial(previous.moments, dropped_partial)


def write_commit_files(spark, output, attempt, pca_table_bytes, moments, inventory):
    """pca, pca_moments and inputs files of an attempt: a fresh job's pca.parquet, ... or an update's
    pca-aNNN.parquet, ..., so that the finished job's stay intact until the update's _SUCCESS. pca_table_bytes
    None: no PCA. Returns {"pca": name or None, "pca_moments": name, "inputs": name}."""
    names = {stem: f"{stem}.parquet" if attempt == 0 else f"{stem}-a{attempt:03d}.parquet"
             for stem in ("pca", "pca_moments", "inputs")}
    if pca_table_bytes is None:
        if attempt == 0:
            delete_file(spark, child(output, names["pca"]))
        names["pca"] = None
    else:
        write_file(spark, child(output, names["pca"]), pca_table_bytes)
    write_file(spark, child(output, names["pca_moments"]), moments)
    write_file(spark, child(output, names["inputs"]), inventory)
    return names


def delete_replaced(spark, output, previous_manifest, manifest):
    """After an update's _SUCCESS: the files the finished job listed that the update does not."""
    keep = set(listed_files(manifest))
    for name in listed_files(previous_manifest):
        if name not in keep:
            delete_file(spark, child(output, name))


def driver_model(settings):
    """The model's identity, compiled once on the driver: an update checks it against the job's before any
    worker starts (and may have no image to give a worker)."""
    from orchard import Featurizer
    featurizer = Featurizer(str(settings["model"]), preset=settings["preset"],
                            feature_tensor=settings["feature_tensor"], precision=settings["precision"], threads=1,
                            max_pixels=settings["max_pixels"], max_file_bytes=settings["max_file_bytes"])
    return {"sha256": featurizer.sha256, "feature_tensor": featurizer.feature_tensor,
            "feature_dim": featurizer.feature_dim, "preprocess": featurizer.preprocess}


def identity(input, settings, model):
    """_job.json's text, `orchard run`'s (job_identity)."""
    from orchard import output_path
    from orchard._core import job_identity
    return job_identity(input=output_path(str(input)), model_sha256=model.get("sha256", ""),
                        feature_tensor=settings["feature_tensor"], precision=settings["precision"],
                        preprocess=model.get("preprocess", "null"), max_pixels=settings["max_pixels"],
                        max_file_bytes=settings["max_file_bytes"])


def prepare(spark, input, output, settings, replace, incremental):
    """(the finished job an update starts from, the driver's model identity), or (None, None) for a fresh job,
    whose output is then checked (check_output) and has no _SUCCESS."""
    if incremental and exists(spark, child(output, "_SUCCESS")):
        model = driver_model(settings)
        return prepare_update(spark, input, output, identity(input, settings, model)), model
    check_output(spark, input, output, *replace)
    delete_file(spark, child(output, "_SUCCESS"))
    # An interrupted `orchard run`'s staged rows: left there, the next `orchard run` would resume from them under
    # this job's _job.json (rows of other settings in its output).
    delete_folder(spark, child(output, "_staging"))
    return None, None


def merge(*partials):
    """The merged (count, mean, scatter) of the non-empty partials; None when all are empty."""
    import orchard
    present = [p for p in partials if p is not None and p[0] > 0]
    return orchard.merge_partials(present) if present else None
