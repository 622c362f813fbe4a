"""Reading `orchard run` manifests in the benchmark's peers (stdlib only: they run under other interpreters)."""

from pathlib import Path


def manifest_paths(manifest):
    """The paths of a manifest: one per line, an optional TAB label after it, '#' comments."""
    lines = Path(manifest).read_text().splitlines()
    return [line.split("\t")[0] for line in lines if line and not line.startswith("#")]
