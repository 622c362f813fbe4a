"""examples/fruits-360.ipynb runs top to bottom (nbclient, the venv's python3 kernel) on 3 photos per fruit and
split, every cell without error, and its plots are drawn (image/png outputs); the committed notebook carries no
outputs. About 40 s (two small runs, a kernel start)."""

import os

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import REPO, SHARED

NOTEBOOK = REPO / "examples" / "fruits-360.ipynb"
# The plots the notebook draws, by the first line of their cell.
PLOTS = {"components = ": "explained variance", "pca = np.stack": "the first two components",
         "confusion = ": "the confusion matrix", "bundle = orchard.Bundle.load": "the photo and its top-5"}


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    out = tmp_path_factory.mktemp("notebook")
    env = {"ORCHARD_SHARED": str(SHARED), "ORCHARD_NOTEBOOK_PER_LABEL": "3", "ORCHARD_NOTEBOOK_OUT": str(out)}
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)  # the kernel inherits this process's environment
    try:
        # Raises CellExecutionError (naming the cell and its traceback) on the first cell that fails.
        NotebookClient(notebook, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return notebook, out


def test_notebook_runs_without_errors(executed):
    notebook, out = executed
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == []
    assert (out / "test" / "_SUCCESS").is_file() and (out / "bundle" / "bundle.json").is_file()


@pytest.mark.parametrize("first_line", PLOTS)
def test_notebook_draws_its_plots(executed, first_line):
    notebook, _ = executed
    cells = [c for c in notebook.cells if c.cell_type == "code" and c.source.startswith(first_line)]
    assert len(cells) == 1, f"no single cell drawing {PLOTS[first_line]}"
    images = [o for o in cells[0].outputs if "image/png" in o.get("data", {})]
    assert len(images) == 1, f"{PLOTS[first_line]}: no image/png output in {cells[0].outputs}"


def test_committed_notebook_has_no_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code)
