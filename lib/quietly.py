"""`python -m lib.quietly [--log FILE] MODULE [ARGS...]`: run a command-line module (`make bench`, `cv`,
`repeat`, `backbones`) with TensorFlow's own C++ log lines off the terminal.

TensorFlow writes its start-up lines (oneDNN, CUDA) and some per-epoch lines straight to the process's
stderr, before and outside Python, where TF_CPP_MIN_LOG_LEVEL cannot reach them. Here they are appended to
FILE (outputs/tensorflow.log), under a line naming the command, while the module's own progress, messages
and tracebacks, written by Python, still reach the terminal. The module runs as `python -m MODULE` would.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import runpy
import sys
from pathlib import Path

from lib.config import OUTPUTS_DIR
from lib.progress import native_stderr_to

NATIVE_LOG = OUTPUTS_DIR / "tensorflow.log"


def main(argv: list[str] | None = None) -> int:
    """Run the module with its arguments, its native stderr appended to the log; the module's exit code."""
    parser = argparse.ArgumentParser(prog="python -m lib.quietly", description=__doc__.splitlines()[0])
    parser.add_argument("--log", type=Path, default=NATIVE_LOG, help="where the C++ log lines go (appended)")
    parser.add_argument("module", help="the module to run, as with python -m (e.g. lib.bench)")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="its arguments")
    args = parser.parse_args(argv)
    if importlib.util.find_spec(args.module) is None:
        parser.error(f"no module {args.module!r} to run (e.g. lib.bench)")
    args.log.parent.mkdir(parents=True, exist_ok=True)
    with args.log.open("a") as log:
        log.write(f"== {dt.datetime.now().isoformat(timespec='seconds')} python -m {args.module} "
                  f"{' '.join(args.args)}\n")
    code: int | str | None = 0
    with native_stderr_to(args.log):
        sys.argv = [args.module, *args.args]
        try:
            runpy.run_module(args.module, run_name="__main__", alter_sys=True)
        except SystemExit as done:
            code = done.code
    if isinstance(code, str):  # sys.exit("message"), which Python itself would print
        print(code, file=sys.stderr)
    code = 1 if isinstance(code, str) else code or 0
    if code:
        print(f"(TensorFlow's own log lines of this command are in {args.log})", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
