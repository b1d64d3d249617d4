"""Run folders: a new one per run (never reused), the manifest's facts (commit, packages, data), `latest`."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import socket
import subprocess
from importlib import metadata
from pathlib import Path

from lib.config import OUTPUTS_DIR, PROJECT_ROOT
from lib.progress import process_running

MANIFEST = "manifest.json"
PACKAGES = ["tensorflow", "keras", "papermill", "nbconvert", "pandas", "seaborn", "matplotlib",
            "holoviews", "bokeh", "scikit-learn", "opencv-python-headless", "numpy"]


def notebook_run_dir(run_dir: str = "") -> Path:
    """The folder a notebook writes to: the given run folder, else outputs/lab for work in Lab."""
    path = Path(run_dir) if run_dir else OUTPUTS_DIR / "lab"
    path.mkdir(parents=True, exist_ok=True)
    return path


def new_run_dir(outputs: Path, name: str, now: dt.datetime | None = None) -> Path:
    """Create and return a fresh outputs/<YYYYmmdd-HHMMSS>-<name>/ folder; never reuse one."""
    stamp = (now or dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    outputs.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 1000):
        run_dir = outputs / (f"{stamp}-{name}" if attempt == 1 else f"{stamp}-{name}-{attempt}")
        try:
            run_dir.mkdir()
            return run_dir
        except FileExistsError:
            continue
    raise RuntimeError(f"could not create a new run folder in {outputs}")


def data_fingerprint(root: Path) -> dict:
    """File count and a SHA-256 of the sorted relative file list (with sizes) under root."""
    files = sorted(p for p in root.rglob("*") if p.is_file())
    listing = "\n".join(f"{p.relative_to(root)}\t{p.stat().st_size}" for p in files)
    return {"root": str(root), "files": len(files), "sha256": hashlib.sha256(listing.encode()).hexdigest()}


def git_commit() -> str:
    """The project's git commit, with '+dirty' when the work tree has uncommitted changes."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True).stdout
    commit = git("rev-parse", "HEAD").strip() or "unknown"
    return commit + ("+dirty" if git("status", "--porcelain", "--untracked-files=no").strip() else "")


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape the results."""
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def newest_finished(outputs: Path, kind: str, marker: str) -> Path | None:
    """The newest outputs/<stamp>-<kind> folder holding `marker` (a file written when that run finished)."""
    done = sorted(path.parent for path in Path(outputs).glob(f"*-{kind}/{marker}"))
    return done[-1] if done else None


def point_latest(outputs: Path, run_dir: Path) -> None:
    """Point outputs/latest at run_dir, replacing the old link atomically."""
    tmp = outputs / f".latest-{os.getpid()}"
    tmp.symlink_to(run_dir.name, target_is_directory=True)
    os.replace(tmp, outputs / "latest")


def write_manifest(run_dir: Path, manifest: dict) -> None:
    """Write the run's manifest.json whole (never half-written), with this process and a fresh heartbeat."""
    manifest.update(pid=os.getpid(), host=socket.gethostname(),
                    heartbeat=dt.datetime.now().isoformat(timespec="seconds"))
    _replace_manifest(run_dir / MANIFEST, manifest)


def _replace_manifest(path: Path, manifest: dict) -> None:
    """Write a manifest whole over path."""
    write_whole(path, json.dumps(manifest, indent=2))


def write_whole(path: str | os.PathLike, content: str | bytes) -> Path:
    """Write content to a temporary file beside path, then move it over path in one step: a reader sees the
    old file or the new one, never half of one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_bytes(content.encode() if isinstance(content, str) else content)
    os.replace(tmp, path)
    return path


def mark_stale_runs(outputs: Path) -> list[tuple[Path, dict]]:
    """Run folders still marked running whose process on this machine is gone (killed, or the machine
    stopped): marked `killed` in their manifest; returned with it."""
    stale = []
    for path in sorted(Path(outputs).glob(f"*/{MANIFEST}")):
        try:
            manifest = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if (manifest.get("status") == "running" and manifest.get("host") == socket.gethostname()
                and isinstance(manifest.get("pid"), int) and not process_running(manifest["pid"])):
            manifest["status"] = "killed"
            manifest["note"] = (f"its process ({manifest['pid']}) ended without finishing; the last sign of "
                                f"life was at {manifest.get('heartbeat', 'an unknown time')}")
            _replace_manifest(path, manifest)  # as left, but for status and note
            stale.append((path.parent, manifest))
    return stale
