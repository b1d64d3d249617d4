"""Progress of a long step inside a chapter, shown by `make report` as a bar under the chapter's line.

A kernel cannot draw on the terminal (its output goes to the notebook, its stderr to kernels.log), so the
report runner names a file in PROGRESS_ENV; the step writes what it does and how far it is to that file,
and the runner draws it with tqdm. Without the variable (JupyterLab, tests, the command-line tools) every
call here does nothing. native_stderr_to keeps C++ log lines (TensorFlow, CUDA, LiteRT) off the terminal
while Python's progress and errors stay on it. Imports nothing of lib.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TypeVar

# the plain bar, not tqdm.auto: that warns "IProgress not found" in every kernel without ipywidgets
from tqdm import tqdm

PROGRESS_ENV = "CASTING_PROGRESS"  # the file the kernel writes its current step to
EVERY = 0.25  # seconds between two writes of one step, and between two looks of the runner

Item = TypeVar("Item")
_last_write = [0.0]


@contextlib.contextmanager
def native_stderr_to(log: str | os.PathLike):
    """While inside, what is written to this process's file descriptor 2 (C++ log lines, and child
    processes' stderr) is appended to log, while Python's sys.stderr (progress bars, warnings, tracebacks)
    still reaches the terminal."""
    sys.stderr.flush()
    saved = os.dup(2)
    terminal = os.fdopen(os.dup(2), "w", buffering=1)
    with open(log, "ab") as sink:
        os.dup2(sink.fileno(), 2)
    try:
        with contextlib.redirect_stderr(terminal):
            yield
    finally:
        terminal.flush()
        os.dup2(saved, 2)
        os.close(saved)
        terminal.close()


def step(what: str, done: int, total: int, unit: str = "it", force: bool = False) -> None:
    """Say that the step `what` has done `done` of `total` units (at most every EVERY s, unless forced), in
    this process's own file (step_file): chapters that run side by side each draw their own bar."""
    target = os.environ.get(PROGRESS_ENV)
    now = time.monotonic()
    if not target or (not force and done < total and now - _last_write[0] < EVERY):
        return
    _last_write[0] = now
    path = step_file(target)
    partial = Path(f"{path}.partial")
    partial.write_text(f"{what}\t{done}\t{total}\t{unit}\n")
    partial.replace(path)  # the runner never reads half a line


def step_file(target: str | os.PathLike, pid: int | None = None) -> Path:
    """Where the process pid (default: this one) writes its steps, given the runner's target."""
    return Path(f"{target}.{os.getpid() if pid is None else pid}")


def _step_files(target: Path) -> dict[int, Path]:
    """The step files of every process under the target, by process id."""
    return {int(path.name.rsplit(".", 1)[1]): path for path in target.parent.glob(f"{target.name}.*")
            if path.name.rsplit(".", 1)[1].isdigit()}


def process_running(pid: int) -> bool:
    """Whether a process of this id runs on this machine (one of another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def track(items: Iterable[Item], total: int, what: str, unit: str = "it") -> Iterator[Item]:
    """The items, one by one, with the step's progress said as they go."""
    step(what, 0, total, unit, force=True)
    done = 0
    for done, item in enumerate(items, 1):
        yield item
        step(what, done, total, unit)
    step(what, done, total, unit, force=True)


def read_step(path: Path) -> tuple[str, int, int, str] | None:
    """The step last written to path: (what, done, total, unit), or None if there is none (or no file)."""
    try:
        what, done, total, unit = path.read_text().rstrip("\n").split("\t")
        return what, int(done), int(total), unit
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def step_bars(target: Path, position: int = 1):
    """While inside: the steps that kernels started inside write under target (cleared first) drawn as tqdm
    bars on stderr from line position on, one per kernel; a kernel's bar goes when its process ends."""
    for path in _step_files(target).values():
        path.unlink(missing_ok=True)
    previous = os.environ.get(PROGRESS_ENV)
    os.environ[PROGRESS_ENV] = str(target)  # the kernels started inside inherit it
    stop = threading.Event()

    def watch() -> None:
        bars: dict[int, tuple[tqdm, tuple]] = {}
        finished: dict[int, tuple] = {}  # each kernel's last step drawn to its end
        while not stop.wait(EVERY):
            for pid, path in sorted(_step_files(target).items()):
                current = read_step(path)
                if not process_running(pid):
                    path.unlink(missing_ok=True)
                    current = None
                if current is None:
                    if pid in bars and not path.exists():
                        bars.pop(pid)[0].close()
                    continue
                what, done, total, unit = current
                bar, shown = bars.get(pid, (None, None))
                if done >= total and (what, total, unit) == finished.get(pid):
                    continue  # drawn to its end and closed: not drawn again with its rate running down
                if bar is None or (what, total, unit) != shown:
                    if bar is not None:
                        bar.close()
                    bar = tqdm(total=total, desc=f"  {what}", unit=unit, leave=False, file=sys.stderr,
                               position=position + sorted({*bars, pid}).index(pid), dynamic_ncols=True)
                    bars[pid] = bar, (what, total, unit)
                bar.n = done
                bar.refresh()
                if done >= total:  # the step is over: its bar goes, until the kernel starts another
                    bars.pop(pid)[0].close()
                    finished[pid] = what, total, unit
        for bar, _ in bars.values():
            bar.close()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join()
        if previous is None:
            os.environ.pop(PROGRESS_ENV, None)
        else:
            os.environ[PROGRESS_ENV] = previous
        for path in _step_files(target).values():
            path.unlink(missing_ok=True)
