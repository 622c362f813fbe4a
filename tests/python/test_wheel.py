"""The pip package (pyproject.toml, scikit-build-core) as scripts/build_wheel.sh makes it: a manylinux_2_34 wheel
(auditwheel repair) bundling the system libraries it links, installed into a fresh venv without the system's or the
project's site-packages in a clean environment: a mount namespace where /usr/include (every Debian -dev package's
headers) is empty and each system library the wheel bundles is /dev/null. There it imports orchard._core from that
venv, links libarrow and libopenvino from that venv's pyarrow and openvino wheels and the rest from orchard.libs,
and featurises sample images exactly as the in-tree module does (and runs the whole job).

Cost: one compile of the binding and the C++ core (about 3 minutes on 2 cores; built once per session, without
build isolation from the project's .venv, which holds the pinned build requirements), about 20 s of auditwheel
repair, and a venv whose pinned dependencies come from PyPI (pip's cache after the first run). Needs root (or
CAP_SYS_ADMIN) for `unshare --mount`, as scripts/test.sh has.
"""

import json
import re
import shlex
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

from conftest import DEFAULT_MODEL, REPO, WHEEL_POLICY, clean_env as _clean_env, run_checked as _run, sample_images

sys.path.insert(0, str(REPO / "python"))
import orchard  # noqa: E402  (the in-tree module: build/python/orchard)

# The same pins as .venv (numpy is unpinned in the package; the constraints make the venv's match).
REQUIREMENTS = REPO / "scripts" / "requirements.txt"


# What the wheel bundles (orchard.libs/) and what it must not: those come from the pyarrow and openvino wheels.
BUNDLED = ("libjpeg", "libpng16", "libwebp", "liblapacke", "libopenblas", "liblinear")
NOT_BUNDLED = ("libarrow", "libparquet", "libopenvino")
SYSTEM_LIBRARY_DIRS = (Path("/usr/lib/x86_64-linux-gnu"), Path("/lib/x86_64-linux-gnu"))


def _bundled_libraries(wheel):
    return [n for n in zipfile.ZipFile(wheel).namelist() if n.startswith("orchard.libs/")]


@pytest.fixture(scope="session")
def hidden_files(wheel):
    """The system's copies of the libraries the wheel bundles (auditwheel names a copy <name>-<8 hex>.so..., the
    original <name>.so...): every file of that name in the system library directories, symlinks resolved; and the
    checkout's report template and Vega scripts."""
    originals = {re.sub(r"-[0-9a-f]{8}(?=\.so)", "", Path(n).name) for n in _bundled_libraries(wheel)}
    found = {str(p.resolve()) for d in SYSTEM_LIBRARY_DIRS for name in originals for p in d.rglob(name)}
    assert len(originals) >= len(BUNDLED) and len(found) >= len(originals), (originals, found)
    # The checkout's report assets too (the wheel compiles in the source path): the wheel must use its own.
    checkout = [REPO / "src" / "orchard" / "recognition" / "report_template.html",
                *(REPO / ".tools" / "node_modules").glob("vega*/build/vega*.min.js")]
    return sorted(found | {str(p.resolve()) for p in checkout})


def _isolated(command, hidden):
    """`command` in a new mount namespace whose /usr/include is an empty tmpfs and where every file of `hidden` is
    /dev/null (loading it fails), so the Debian -dev packages and the bundled libraries' system copies are absent."""
    mounts = ["mount -t tmpfs -o ro tmpfs /usr/include"] + [f"mount --bind /dev/null {shlex.quote(f)}" for f in hidden]
    script = " && ".join(mounts + ['exec "$@"'])
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "isolated", *command]


@pytest.fixture(scope="session")
def isolated(hidden_files):
    return lambda command: _isolated(command, hidden_files)


@pytest.fixture(scope="session")
def venv_python(wheel, isolated, tmp_path_factory):
    venv = tmp_path_factory.mktemp("venv")
    _run(isolated([sys.executable, "-m", "venv", venv]), timeout=300)
    python = venv / "bin" / "python"
    # pip takes no extras in a constraints file ("tritonclient[http]==..."): the pins without them.
    constraints = venv / "constraints.txt"
    constraints.write_text(re.sub(r"\[[^\]]*\]", "", REQUIREMENTS.read_text()))
    _run(isolated([python, "-m", "pip", "install", "-q", "-c", constraints, wheel]), env=_clean_env(),
         timeout=1200)
    return python


PROBE = textwrap.dedent("""
    import ctypes, json, sys
    import pyarrow as pa
    import orchard
    def loadable(name):
        try:
            ctypes.CDLL(name)
            return True
        except OSError:
            return False
    images = sys.argv[2:]
    featurizer = orchard.Featurizer(sys.argv[1])
    batch = pa.record_batch({"path": ["file:" + p for p in images],
                             "content": pa.array([open(p, "rb").read() for p in images], pa.binary())})
    table = pa.table(featurizer.featurize_arrow(batch, batch=2))
    maps = open("/proc/self/maps").read().split()
    print(json.dumps({"package": orchard.__file__, "core": orchard._core.__file__,
                      "libraries": sorted({m for m in maps if "/libarrow.so" in m or "/libopenvino.so" in m}),
                      "bundled": sorted({m for m in maps if "/orchard.libs/" in m}),
                      "headers": __import__("os").listdir("/usr/include"),
                      "system_copies_loadable": [n for n in ("libjpeg.so.62", "libpng16.so.16", "libwebp.so.7",
                                                             "liblapacke.so.3", "liblinear.so.4") if loadable(n)],
                      "paths": table.column("path").to_pylist(), "labels": table.column("label").to_pylist(),
                      "features": table.column("features").to_pylist()}))
""")


@pytest.fixture(scope="session")
def probe(venv_python, isolated, tmp_path_factory):
    images = [str(p) for p in sample_images("Test", per_label=1)[:3]]
    script = tmp_path_factory.mktemp("probe") / "probe.py"
    script.write_text(PROBE)
    result = _run(isolated([venv_python, script, DEFAULT_MODEL, *images]), env=_clean_env(), cwd=script.parent,
                  timeout=300)
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
    assert len(runpath) == 1 and "[$ORIGIN/../pyarrow:$ORIGIN/../openvino/libs:$ORIGIN/../orchard.libs]" in \
        runpath[0], dynamic


def test_wheel_is_manylinux_2_34(wheel):
    """auditwheel's symbol policy is manylinux_2_34 (no glibc symbol newer than 2.34, no libstdc++ one newer than
    GLIBCXX_3.4.29); its only outside libraries are pyarrow's and openvino's (so its overall tag stays linux)."""
    shown = json.loads(_run([sys.executable, "-m", "auditwheel", "show", "--json", wheel]).stdout)
    assert shown["sym_tag"] == WHEEL_POLICY, shown
    assert shown["external_libs"] and all(name.startswith(NOT_BUNDLED) for name in shown["external_libs"]), shown


def test_wheel_bundles_the_system_libraries_but_not_arrow_or_openvino(wheel):
    names = [Path(n).name for n in _bundled_libraries(wheel)]
    for library in BUNDLED:
        assert any(n.startswith(library) for n in names), (library, names)
    assert not [n for n in names if n.startswith(NOT_BUNDLED)], names


def test_wheel_runs_without_dev_packages_or_system_copies(probe):
    """The probe ran where /usr/include is empty and the system copies of the bundled libraries cannot load:
    orchard loaded its own copies from the venv's orchard.libs and nothing from the hidden files."""
    _, found = probe
    assert found["headers"] == [] and found["system_copies_loadable"] == [], found
    site = str(Path(found["package"]).parents[1])
    assert {Path(b).name.split("-")[0] for b in found["bundled"]} >= {"libjpeg", "libpng16", "libwebp"}, found
    assert all(b.startswith(f"{site}/orchard.libs/") for b in found["bundled"]), found


def test_wheel_features_equal_the_in_tree_module(probe):
    images, found = probe
    assert found["paths"] == images
    assert found["labels"] == [p.split("/")[-2] for p in images]
    expected, errors = orchard.Featurizer(str(DEFAULT_MODEL)).featurize(images, batch=2)
    assert errors == []
    np.testing.assert_allclose(np.array(found["features"], dtype=np.float32), expected, rtol=1e-5, atol=1e-6)


def test_wheel_ships_type_stubs(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "orchard/_core.pyi" in names and "orchard/py.typed" in names, names


JOB_PROBE = textwrap.dedent("""
    import json, sys
    import numpy as np
    import orchard
    manifest, out, bundle = sys.argv[1:4]
    summary = orchard.run(manifest, out, pca_k=4, progress=False)
    training = orchard.train(out, bundle)
    metrics = orchard.evaluate(out, bundle, split="Test", report=out + "-report")
    html = open(out + "-report/report.html").read()
    prediction = orchard.Bundle.load(bundle).predict(np.zeros((32, 32, 3), dtype=np.uint8))
    print(json.dumps({"written": summary.written, "rows": orchard.read(out).num_rows,
                      "trained": training["rows"], "evaluated": metrics["n"], "top_k": len(prediction.top_k),
                      "report_inlines_vega": len(html) > 800_000 and "Kiwi" in html}))
""")


def test_wheel_runs_the_whole_job_from_python(venv_python, isolated, tmp_path):
    """orchard.run / read / train / evaluate / Bundle.predict from the installed wheel (recognition included);
    report.html from the wheel's own template and Vega copies, with no ORCHARD_* variable and the checkout's
    copies hidden (regression: it needed ORCHARD_REPORT_TEMPLATE / ORCHARD_NODE_MODULES or the source tree)."""
    images = [i for split in ("Training", "Test") for i in sample_images(split, per_label=3)
              if i.parent.name in ("Kiwi", "Lemon")]
    manifest = tmp_path / "images.txt"
    manifest.write_text("".join(f"{i}\n" for i in images))
    script = tmp_path / "job.py"
    script.write_text(JOB_PROBE)
    result = _run(isolated([venv_python, script, manifest, tmp_path / "out", tmp_path / "bundle"]),
                  env=_clean_env(), cwd=tmp_path, timeout=300)
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found == {"written": 12, "rows": 12, "trained": 6, "evaluated": 6, "top_k": 2,
                     "report_inlines_vega": True}
