"""The pip package (pyproject.toml, scikit-build-core): a wheel built from the checkout, installed into a fresh
venv without the system's or the project's site-packages, imports orchard._core from that venv, links libarrow and
libopenvino from that venv's pyarrow and openvino wheels, and featurises sample images exactly as the in-tree
module does.

Cost: one compile of the binding and the C++ core (about 3 minutes on 2 cores; built once per session, without
build isolation from the project's .venv, which holds the pinned build requirements) and a venv whose pinned
dependencies come from PyPI (pip's cache after the first run).
"""

import json
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import DEFAULT_MODEL, REPO, clean_env as _clean_env, run_checked as _run, sample_images

sys.path.insert(0, str(REPO / "python"))
import orchard  # noqa: E402  (the in-tree module: build/python/orchard)

# The same pins as .venv (numpy is unpinned in the package; the constraints make the venv's match).
REQUIREMENTS = REPO / "scripts" / "requirements.txt"


@pytest.fixture(scope="session")
def venv_python(wheel, tmp_path_factory):
    venv = tmp_path_factory.mktemp("venv")
    _run([sys.executable, "-m", "venv", venv], timeout=300)
    python = venv / "bin" / "python"
    # pip takes no extras in a constraints file ("tritonclient[http]==..."): the pins without them.
    constraints = venv / "constraints.txt"
    constraints.write_text(re.sub(r"\[[^\]]*\]", "", REQUIREMENTS.read_text()))
    _run([python, "-m", "pip", "install", "-q", "-c", constraints, wheel], env=_clean_env(), timeout=1200)
    return python


PROBE = textwrap.dedent("""
    import json, sys
    import pyarrow as pa
    import orchard
    images = sys.argv[2:]
    featurizer = orchard.Featurizer(sys.argv[1])
    batch = pa.record_batch({"path": ["file:" + p for p in images],
                             "content": pa.array([open(p, "rb").read() for p in images], pa.binary())})
    table = pa.table(featurizer.featurize_arrow(batch, batch=2))
    maps = open("/proc/self/maps").read().split()
    print(json.dumps({"package": orchard.__file__, "core": orchard._core.__file__,
                      "libraries": sorted({m for m in maps if "/libarrow.so" in m or "/libopenvino.so" in m}),
                      "paths": table.column("path").to_pylist(), "labels": table.column("label").to_pylist(),
                      "features": table.column("features").to_pylist()}))
""")


@pytest.fixture(scope="session")
def probe(venv_python, tmp_path_factory):
    images = [str(p) for p in sample_images("Test", per_label=1)[:3]]
    script = tmp_path_factory.mktemp("probe") / "probe.py"
    script.write_text(PROBE)
    result = _run([venv_python, script, DEFAULT_MODEL, *images], env=_clean_env(), cwd=script.parent, timeout=300)
    return images, json.loads(result.stdout.strip().splitlines()[-1])


def test_installed_package_is_imported_from_the_venv(venv_python, probe):
    _, found = probe
    site = venv_python.parent.parent / "lib"
    assert found["package"].startswith(str(site)) and found["core"].startswith(str(site)), found
    # libarrow and libopenvino are the venv's wheels', not the build tree's or the project .venv's.
    assert found["libraries"], found
    for library in found["libraries"]:
        assert library.startswith(str(site)) and ("/pyarrow/" in library or "/openvino/libs/" in library), library


def test_rpath_points_at_the_wheels(probe):
    _, found = probe
    dynamic = _run(["readelf", "-d", found["core"]]).stdout
    runpath = [line for line in dynamic.splitlines() if "RUNPATH" in line or "RPATH" in line]
    assert len(runpath) == 1 and "[$ORIGIN/../pyarrow:$ORIGIN/../openvino/libs]" in runpath[0], dynamic


def test_wheel_features_equal_the_in_tree_module(probe):
    images, found = probe
    assert found["paths"] == images
    assert found["labels"] == [p.split("/")[-2] for p in images]
    expected, errors = orchard.Featurizer(str(DEFAULT_MODEL)).featurize(images, batch=2)
    assert errors == []
    np.testing.assert_allclose(np.array(found["features"], dtype=np.float32), expected, rtol=1e-5, atol=1e-6)


def test_wheel_ships_type_stubs(wheel):
    import zipfile
    names = zipfile.ZipFile(wheel).namelist()
    assert "orchard/_core.pyi" in names and "orchard/py.typed" in names, names


JOB_PROBE = textwrap.dedent("""
    import json, sys
    import numpy as np
    import orchard
    manifest, out, bundle = sys.argv[1:4]
    summary = orchard.run(manifest, out, pca_k=4, progress=False)
    training = orchard.train(out, bundle)
    metrics = orchard.evaluate(out, bundle, split="Test")
    prediction = orchard.Bundle.load(bundle).predict(np.zeros((32, 32, 3), dtype=np.uint8))
    print(json.dumps({"written": summary.written, "rows": orchard.read(out).num_rows,
                      "trained": training["rows"], "evaluated": metrics["n"], "top_k": len(prediction.top_k)}))
""")


def test_wheel_runs_the_whole_job_from_python(venv_python, tmp_path):
    """orchard.run / read / train / evaluate / Bundle.predict from the installed wheel (recognition included)."""
    images = [i for split in ("Training", "Test") for i in sample_images(split, per_label=3)
              if i.parent.name in ("Kiwi", "Lemon")]
    manifest = tmp_path / "images.txt"
    manifest.write_text("".join(f"{i}\n" for i in images))
    script = tmp_path / "job.py"
    script.write_text(JOB_PROBE)
    result = _run([venv_python, script, manifest, tmp_path / "out", tmp_path / "bundle"], env=_clean_env(),
                  cwd=tmp_path, timeout=300)
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found == {"written": 12, "rows": 12, "trained": 6, "evaluated": 6, "top_k": 2}
