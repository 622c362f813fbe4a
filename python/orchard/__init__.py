"""orchard for Python: the C++ core (orchard._core, built by CMake into <build>/python/orchard/) and orchard.spark.

Run with PYTHONPATH=<repo>/python. The compiled module is looked up, in order, in $ORCHARD_CORE_DIR, then
<repo>/build/python/orchard (the directory scripts/setup.sh builds); either may also simply be on sys.path.
"""

import os as _os
from pathlib import Path as _Path

__path__ = list(__path__)  # noqa: F821 (a package's own __path__), extended with the build output below
for _candidate in (_os.environ.get("ORCHARD_CORE_DIR"),
                   str(_Path(__file__).resolve().parents[2] / "build" / "python" / "orchard")):
    if _candidate and _Path(_candidate).is_dir() and _candidate not in __path__:
        __path__.append(_candidate)

from ._core import Featurizer, covariance_partial, merge_partials, fit_pca, pca_transform, __version__  # noqa: E402

__all__ = ["Featurizer", "covariance_partial", "merge_partials", "fit_pca", "pca_transform", "__version__"]
