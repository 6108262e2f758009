"""Generate the openapi-python-client peer into a temporary directory (never committed).

The spec has two pairs of schemas sharing a title (``Location``/``LocationDetail``,
``Vehicle``/``VehicleWrite``); openapi-python-client names classes by title and refuses the
duplicates (dropping ``POST /vehicles`` with them). In the temporary copy of the spec the
second schema of each pair gets its own key as title. That touches no log schema.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

SPEC = Path(__file__).resolve().parent.parent.parent / "shared" / "spec" / "ev-energy-vehicles-openapi.yaml"
PACKAGE = "evgen"
RENAMES = {"LocationDetail": "Location", "VehicleWrite": "Vehicle"}  # schema key -> its colliding title


def find_spec() -> Path:
    for candidate in (SPEC, Path("/work/shared/spec/ev-energy-vehicles-openapi.yaml")):
        if candidate.exists():
            return candidate
    raise SystemExit(f"spec not found at {SPEC}")


def patched_spec(text: str) -> tuple[str, list[str]]:
    notes: list[str] = []
    for key, title in RENAMES.items():
        pattern = re.compile(rf"^(    {key}:\n      title: ){re.escape(title)}$", re.MULTILINE)
        text, n = pattern.subn(rf"\g<1>{key}", text)
        if n:
            notes.append(f"schema {key}: title {title!r} renamed to {key!r} (collides with schema {title})")
    return text, notes


def generate(workdir: Path) -> tuple[Path, list[str]]:
    """Generate the client under ``workdir``; return (the directory to put on sys.path, notes)."""
    spec = workdir / "spec.yaml"
    text, notes = patched_spec(find_spec().read_text())
    spec.write_text(text)
    out = workdir / PACKAGE
    if out.exists():
        shutil.rmtree(out)
    exe = Path(sys.executable).with_name("openapi-python-client")
    cmd = [str(exe), "generate", "--path", str(spec), "--output-path", str(out), "--meta", "none"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not (out / "api" / "vehicles").is_dir():
        raise SystemExit(f"openapi-python-client failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    for line in proc.stdout.splitlines():
        if line.startswith("Unable to process schema") or line.startswith("WARNING parsing"):
            notes.append(f"generator: {line.strip()}")
    return workdir, notes


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path, notes = generate(Path(tmp))
        print(path, *notes, sep="\n")
