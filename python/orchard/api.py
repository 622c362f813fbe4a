"""orchard's whole job from Python: run, read, train, evaluate and Bundle.predict, over the same C++ functions as
the CLI (`orchard run`, `train`, `eval`, `predict`); this module only converts types and draws the progress bar.

Errors are mapped in one place (python/_core.cpp): bad arguments or a bad input raise ValueError, storage
(missing folder, permission, network) raises OSError, a model that cannot be loaded or run raises RuntimeError.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from . import _core

__all__ = ["Bundle", "Prediction", "RunSummary", "evaluate", "read", "run", "train"]


@dataclass(frozen=True)
class RunSummary:
    """What one `orchard.run` did.

    seen: inputs of the whole job (written + failed); written: rows in features/; failed: error rows in
    errors/; attempt_images: of `seen`, those processed by this call (the others were kept from an interrupted
    attempt it resumed); wall_seconds: this call's time in seconds; images_per_second: attempt_images /
    wall_seconds; manifest: the job's `_SUCCESS` as a dict (counts, model, preprocess, pca or pca.skipped,
    files, timings; see README, "Output format").
    """

    seen: int
    written: int
    failed: int
    attempt_images: int
    wall_seconds: float
    images_per_second: float
    manifest: dict = field(repr=False)


def _os_path(path: str | os.PathLike) -> str:
    return os.fspath(path)


class _ProgressBar:
    """A tqdm.auto bar (a widget in Jupyter, text in a terminal) fed by the C++ progress reporter."""

    def __init__(self, enabled: bool):
        self._bar = None
        if enabled:
            from tqdm.auto import tqdm
            self._bar = tqdm(total=None, unit="img", desc="features", dynamic_ncols=True)

    def update(self, processed: int, total: int, failed: int, known_total: bool) -> None:
        if self._bar is None:
            return
        if known_total and self._bar.total != total:
            self._bar.total = total
        self._bar.n = processed
        self._bar.set_postfix(failed=failed, refresh=False)
        self._bar.refresh()

    def log(self, line: str) -> None:
        if self._bar is not None:
            self._bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def run(input: str | os.PathLike, output: str | os.PathLike, model: str | os.PathLike | None = None,
        preprocess: str | None = None, feature_tensor: str | None = None, pca_k: int | None = None,
        pca_variance: float = 0.95, precision: str = "f32", batch: int = _core.DEFAULT_BATCH, streams: int = 0,
        threads: int = 0,
        io_threads: int = 16, overwrite: bool = False, overwrite_bucket_root: bool = False,
        incremental: bool = False, max_pixels: int = 100_000_000,
        max_file_bytes: int = 256 << 20, rows_per_part: int = 8192, s3_endpoint: str | None = None,
        progress: bool = True) -> RunSummary:
    """Featurises every image of `input` into `output`: exactly `orchard run` (the same C++ RunJob, output,
    resume of an interrupted output, error rows and s3:// URIs; README, "Commands").

    input: a folder `<root>/[<split>/]<Label>/<file>` or a text manifest (one path per line, optionally TAB
    label); a local path or an s3:// URI. output: a folder or s3:// URI (features/, errors/, pca.parquet,
    _SUCCESS written last). model: an ONNX or TFLite path/URI (default: the shared MobileNetV2 int8 model).
    preprocess: "imagenet" | "caffe" | "tf" | "raw" | "unit" (default: the model's, as `orchard describe-model` says).
    feature_tensor: the tensor to cut the model at (default: the input of its global average pool).
    pca_k: number of PCA components; when None, the fewest explaining `pca_variance` (a fraction in [0, 1],
    default 0.95) of the variance. precision: "f32" | "bf16" | "int8". batch: images per inference call (1 to
    4096). streams: inference batches in flight, 0 = OpenVINO's choice. threads: decode workers and inference
    threads, 0 = one per core. io_threads: concurrent reads of input files or objects. overwrite: replace a
    non-empty output that is not a resumable attempt of this job (only orchard's own files are deleted; an
    output holding other files or overlapping the input is refused). overwrite_bucket_root: allow overwrite
    of a whole bucket (s3://bucket). incremental: update a finished job in `output` (`orchard run
    --incremental`): featurise only inputs that are new or replaced since (size or modification time), drop
    deleted ones, refit the PCA over all rows; not with overwrite. max_pixels: images announcing more pixels are
    error rows. max_file_bytes: larger input files are error rows (bytes, default 256 MiB). rows_per_part: rows
    per Parquet part file. s3_endpoint: an S3-compatible endpoint URL (default: AWS_ENDPOINT_URL_S3,
    AWS_ENDPOINT_URL, else AWS). progress: show a tqdm.auto bar (a widget in Jupyter, a text bar on stderr
    otherwise); the job's notes go to stderr.

    The GIL is released while the job runs. Ctrl-C (SIGINT) stops the job as the CLI does: finished parts are
    kept for a resume, no `_SUCCESS` is written, and KeyboardInterrupt is raised.

    Returns a RunSummary. Raises ValueError (bad arguments), OSError (storage: missing input, unwritable
    output), RuntimeError (the model cannot be loaded or run), KeyboardInterrupt (interrupted).
    """
    bar = _ProgressBar(progress)
    try:
        result = _core.run(
            _os_path(input), _os_path(output), _os_path(model) if model is not None else _core.default_model(),
            preprocess or "", feature_tensor or "", pca_k, pca_variance, precision, batch, streams, threads,
            io_threads, overwrite, overwrite_bucket_root, incremental, max_pixels, max_file_bytes, rows_per_part,
            s3_endpoint or "", bar.update, bar.log)
    finally:
        bar.close()
    result["manifest"] = json.loads(result["manifest"])
    return RunSummary(**result)


def _filesystem(output: str) -> tuple[pafs.FileSystem, str]:
    if "://" in output:
        return pafs.FileSystem.from_uri(output)
    return pafs.LocalFileSystem(), os.path.abspath(output)


def read(output: str | os.PathLike, columns: Sequence[str] | None = None, errors: bool = False) -> pa.Table:
    """The rows of a finished `orchard run` / `orchard.run` output as one pyarrow.Table (`.to_pandas()` for a
    DataFrame), read from exactly the files its `_SUCCESS` lists, so stray or half-written files are ignored.

    output: the output folder or s3:// URI. columns: the columns to read (default: all): for features, path
    (string), label (string), features (list<float32>, the CNN's D values), pca (list<float32>, k values); for
    errors (errors=True), path, stage (read | decode | preprocess | inference) and message (strings). A job of
    fewer than 2 good images has no pca column (its `_SUCCESS` says why under pca.skipped).
    Row order is not specified (the pipeline writes parts as they finish).

    Raises OSError when the output has no `_SUCCESS` (not finished, interrupted, or not an orchard output) or a
    listed file cannot be read; ValueError for an unknown column.
    """
    fs, root = _filesystem(_os_path(output))
    try:
        with fs.open_input_stream(f"{root}/_SUCCESS") as stream:
            manifest = json.loads(stream.read())
    except FileNotFoundError:
        raise OSError(f"{output}: no _SUCCESS; not a finished orchard output (interrupted, still running, or "
                      f"another folder); run orchard.run on it again to finish it") from None
    parts = manifest["files"]["errors" if errors else "features"]
    columns = list(columns) if columns is not None else None
    if not parts:  # no error rows, or no image with features
        table = (_ERRORS_SCHEMA if errors else _features_schema(manifest)).empty_table()
        return table.select(columns) if columns is not None else table
    try:
        return pq.ParquetDataset([f"{root}/{part}" for part in parts], filesystem=fs).read(columns=columns)
    except (KeyError, pa.ArrowInvalid) as e:
        raise ValueError(f"{output}: {e}") from None


# The columns of errors/ and features/ (README, "Output format"), for an output without such rows.
_ERRORS_SCHEMA = pa.schema([("path", pa.string()), ("stage", pa.string()), ("message", pa.string())])


def _features_schema(manifest: dict) -> pa.Schema:
    schema = [("path", pa.string()), ("label", pa.string()),
              ("features", pa.list_(pa.float32(), manifest["model"]["feature_dim"]))]
    if "skipped" not in manifest["pca"]:  # no pca column when the PCA was skipped (too few images)
        schema.append(("pca", pa.list_(pa.float32(), manifest["pca"]["k"])))
    return pa.schema(schema)


def train(output: str | os.PathLike, bundle: str | os.PathLike, split: str = "Training", c: float | None = None,
          standardize: bool = True) -> dict:
    """Trains the fruit classifier on a finished run's features and writes a bundle: exactly `orchard train`
    (liblinear logistic regression and the unknown-fruit threshold; README, "Fruit recognition").

    output: the run's output folder or URI. bundle: a local folder to write (bundle.json, pca.parquet,
    classifier.liblinear). split: train on the rows whose path has this folder above the label folder
    (`<root>/<split>/<Label>/<file>`). c: inverse L2 regularisation strength (> 0); None (default): `orchard
    train`'s default (C = 1, the blocked cross-validation's choice on the sample, docs/recognition.md).
    standardize: z-score the features first (default True). The bundle folder must be new, empty or hold a
    bundle (ValueError otherwise, nothing written).

    Returns the bundle's training facts: output, split, rows, rows_per_label {label: count},
    training_accuracy (fraction 0..1). Raises ValueError (no rows of the split, a single label), OSError
    (unreadable output, unwritable bundle).
    """
    training, log = _core.train(_os_path(output), _os_path(bundle), split, c, standardize)
    sys.stderr.write(log)
    return json.loads(training)


def evaluate(output: str | os.PathLike, bundle: str | os.PathLike, report: str | os.PathLike | None = None,
             split: str = "Test") -> dict:
    """Evaluates a bundle on a run's split: exactly `orchard eval`, with the bundle's own PCA and classifier.

    output: a run's output folder or URI made with the bundle's model and preprocessing. bundle: the bundle
    folder. report: a folder to write metrics.json and report.html to (default None: nothing is written).
    split: the rows to evaluate (the folder above the label folder).

    Returns the metrics: n (rows), top1, top5 (fractions 0..1), labels (class order), per_class {label: {precision,
    recall (None when undefined), support}}, confusion (list of rows: true label x predicted label, in `labels`
    order), unknown_labels, split, output, bundle. Raises ValueError (features from another model or preprocessing
    than the bundle's, no rows of the split), OSError (unreadable output or bundle, unwritable report),
    RuntimeError (model).
    """
    if report is not None and _REPORT_ASSETS.is_dir():
        os.environ.setdefault("ORCHARD_REPORT_TEMPLATE", str(_REPORT_ASSETS / "report_template.html"))
        os.environ.setdefault("ORCHARD_NODE_MODULES", str(_REPORT_ASSETS / "node_modules"))
    metrics, log = _core.evaluate(_os_path(output), _os_path(bundle), split,
                                  _os_path(report) if report is not None else "")
    sys.stderr.write(log)
    return json.loads(metrics)


# report.html's template and plotting libraries as the wheel ships them (python/CMakeLists.txt); absent in a
# checkout, whose C++ side reads the source tree's (src/orchard/recognition/report.h).
_REPORT_ASSETS = Path(__file__).with_name("report")


@dataclass(frozen=True)
class Prediction:
    """One image recognised by a Bundle.

    label: the most probable label, or None for an unknown fruit (far from every class the bundle knows);
    unknown: whether it is; unknown_score: the open-set score (squared Mahalanobis distance to the nearest
    class mean; unknown when over the bundle's threshold), None for a bundle without a detector; top_k:
    [(label, probability)] most probable first (also for an unknown fruit), probabilities in [0, 1];
    features: float32[D], the CNN features; pca: float32[k], their PCA projection. The same fields as
    `orchard predict`'s JSON lines.
    """

    label: str | None
    unknown: bool
    unknown_score: float | None
    top_k: list
    features: np.ndarray = field(repr=False)
    pca: np.ndarray = field(repr=False)


class Bundle:
    """A trained bundle (`orchard train` / orchard.train) made runnable: image -> decode -> preprocess -> CNN
    -> PCA -> classifier, the same C++ Recognizer as `orchard predict` and `orchard serve`."""

    def __init__(self, recognizer: _core.Recognizer):
        self._recognizer = recognizer

    @classmethod
    def load(cls, directory: str | os.PathLike, threads: int = 0, max_pixels: int = 100_000_000) -> "Bundle":
        """Loads a bundle folder and compiles its model (verified against the bundle's sha256).

        threads: inference threads, 0 = one per core. max_pixels: larger images are refused (ValueError).
        Raises OSError (missing or unreadable bundle files), RuntimeError (the model is missing, changed, or
        does not fit the bundle's preprocessing).
        """
        return cls(_core.Recognizer(_os_path(directory), threads, max_pixels))

    @property
    def labels(self) -> list[str]:
        """The classifier's labels, in class index order."""
        return self._recognizer.labels

    @property
    def training(self) -> dict:
        """Provenance: the run output and split it was trained on, row counts, training accuracy."""
        return json.loads(self._recognizer.training)

    def predict(self, x: Any, top_k: int = 5) -> Prediction:
        """Recognises one image.

        x is one of:
          - a str or os.PathLike: a local path or an s3:// URI, read by the C++ side;
          - bytes: an encoded image file (JPEG, PNG, WebP), as on disk;
          - a PIL.Image.Image: in any mode; converted to RGB (PIL's own channel order, R, G, B);
          - a numpy.ndarray of dtype uint8 and shape (H, W, 3) (height, width, channel), channels in R, G, B
            order (NOT OpenCV's B, G, R: convert with `img[..., ::-1]` first).
        Pixels skip only the decoding: they take the same resize and preprocessing as a decoded file, so a
        numpy array gives the same features as the same pixels saved as PNG and passed by path. (A JPEG file
        may be decoded at a reduced scale, as `orchard run` does, so its pixels passed as an array can differ
        slightly from the file passed by path.)

        top_k: how many labels to return (>= 1). Returns a Prediction. Raises ValueError naming the reason
        (a missing or unreadable file, an undecodable or too large image, a wrong array dtype or shape: this
        input's fault), OSError (storage unavailable: network, S3 permissions), TypeError (another kind of x).
        """
        if isinstance(x, (str, os.PathLike)):
            result = self._recognizer.predict(path=_os_path(x), top_k=top_k)
        elif isinstance(x, (bytes, bytearray, memoryview)):
            result = self._recognizer.predict(content=bytes(x), top_k=top_k)
        else:
            result = self._recognizer.predict_pixels(_rgb_pixels(x), top_k=top_k)
        label, unknown, score, top, features, pca = result
        return Prediction(label=label, unknown=unknown, unknown_score=score,
                          top_k=[(name, float(p)) for name, p in top], features=features, pca=pca)


def _rgb_pixels(x: Any) -> np.ndarray:
    """A PIL image (any mode, converted to RGB) or a numpy uint8 (H, W, 3) array as C-contiguous RGB pixels."""
    if isinstance(x, np.ndarray):
        if x.dtype != np.uint8 or x.ndim != 3 or x.shape[2] != 3:
            raise ValueError(f"a numpy image must be uint8 of shape (H, W, 3) in RGB order, got {x.dtype} "
                             f"{x.shape}")
        return np.ascontiguousarray(x)
    if type(x).__module__.startswith("PIL."):
        return np.asarray(x.convert("RGB"), dtype=np.uint8)
    raise TypeError(f"predict takes a path, URI, bytes, PIL.Image or numpy uint8 (H, W, 3) array, not "
                    f"{type(x).__name__}")
