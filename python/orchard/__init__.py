"""orchard for Python: the whole job (run, read, train, evaluate, Bundle: orchard.api), the C++ core
(orchard._core: Featurizer, PCA and Arrow functions) and orchard.spark.

Installed (`pip install <repo>`, see pyproject.toml), orchard._core sits beside this file. In the source tree
(PYTHONPATH=<repo>/python) the compiled module is looked up, in order, in $ORCHARD_CORE_DIR, then
<repo>/build/python/orchard (the directory scripts/setup.sh builds); either may also simply be on sys.path.
"""

import os as _os
from pathlib import Path as _Path

__path__ = list(__path__)  # noqa: F821 (a package's own __path__), extended with the build output below
for _candidate in (_os.environ.get("ORCHARD_CORE_DIR"),
                   str(_Path(__file__).resolve().parents[2] / "build" / "python" / "orchard")):
    if _candidate and _Path(_candidate).is_dir() and _candidate not in __path__:
        __path__.append(_candidate)

from ._core import (DEFAULT_BATCH, ArrowBatches, Featurizer, check_overwrite, covariance_partial,  # noqa: E402
                    covariance_partial_arrow, fit_pca, fit_pca_arrow, merge_partials, merge_partials_arrow,
                    folder_label, output_path, pca_transform, pca_transform_arrow, subtract_partial, __version__)
from .api import Bundle, Prediction, RunSummary, evaluate, read, run, train  # noqa: E402

__all__ = ["Bundle", "Prediction", "RunSummary", "evaluate", "read", "run", "train",
           "DEFAULT_BATCH", "ArrowBatches", "Featurizer", "check_overwrite", "covariance_partial",
           "covariance_partial_arrow", "fit_pca", "fit_pca_arrow", "folder_label", "merge_partials",
           "merge_partials_arrow", "output_path", "pca_transform", "pca_transform_arrow", "subtract_partial",
           "__version__"]
