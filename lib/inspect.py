"""Turn photos of new parts into verdicts with a trained model: `python -m lib.inspect PATH... --model RUN`.

Decoding runs in a process per core (threads for a few files), overlapped with batched prediction by
the run's TensorFlow Lite copy of the model (model.tflite, on LiteRT: no TensorFlow needed;
requirements-line.txt). Every file found gets one row in the CSV; an unreadable one gets its error and
no verdict. Dot-files (.DS_Store and the like) are skipped and counted. The output is claimed before
any scoring (never overwritten, not even by a second run started at the same moment), rows are written
as they are scored, and an interrupted run keeps them in a file named as partial.

Exit status: 0 every file read, 1 some could not be, 2 bad arguments or model, 3 the output could
not be written, 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from lib.data import find_image_files
from lib.drift import DRIFT_REFERENCE, batch_warning
from lib.inspection import inspect_chunk, inspect_files, load_inspector
from lib.runtime import READ_IN_PROCESSES_FROM, start_photo_readers
from lib.words import plural

try:  # optional: a line PC scoring one folder needs no Dask
    from dask.distributed import Client, LocalCluster
except ImportError:
    Client = LocalCluster = None

CHUNK = 1024  # files scored and written at a time (one Dask task each)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet runs a cell starting so as a formula
EXIT_UNREADABLE, EXIT_USAGE, EXIT_WRITE, EXIT_INTERRUPTED = 1, 2, 3, 130


def neutralise_formulas(rows: pd.DataFrame) -> pd.DataFrame:
    """Text cells a spreadsheet would run as a formula, prefixed with ' (OWASP's CSV-injection advice)."""
    text = rows.select_dtypes(include=["object", "string"]).columns
    return rows.assign(**{c: rows[c].map(lambda v: f"'{v}" if isinstance(v, str) and v.startswith(
        FORMULA_STARTS) else v) for c in text})


def claim_output(out: Path) -> None:
    """Create out empty and exclusively, so no other run can take it; FileExistsError or OSError."""
    os.close(os.open(out, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))


def main(argv: list[str] | None = None) -> int:
    """Command line; the exit status as in the module's docstring."""
    parser = argparse.ArgumentParser(prog="python -m lib.inspect", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", help="image files or folders (searched recursively)")
    parser.add_argument("--model", required=True, help="a run folder from outputs/ or a .keras file")
    parser.add_argument("--out", default="verdicts.csv", help="CSV to write (default verdicts.csv)")
    parser.add_argument("--batch-size", type=int, default=64, help="photos per network call (1 to 4096)")
    parser.add_argument("--threshold", type=float, default=None,
                        help="this threshold instead of the run's operating_point.json (needed without one)")
    spread = parser.add_mutually_exclusive_group()
    spread.add_argument("--workers", type=int, default=0,
                        help="score on a local Dask cluster of this many worker processes")
    spread.add_argument("--dask", metavar="ADDRESS", default="",
                        help="score on the Dask cluster whose scheduler is at ADDRESS (tcp://host:8786); "
                             "every worker needs this project and read access to the files and run folder")
    args = parser.parse_args(argv)
    if not 1 <= args.batch_size <= 4096:
        print(f"error: --batch-size must be from 1 to 4096, got {args.batch_size}", file=sys.stderr)
        return EXIT_USAGE
    if (args.workers or args.dask) and Client is None:
        print("error: --workers and --dask need Dask: pip install 'dask[distributed]'", file=sys.stderr)
        return EXIT_USAGE
    if args.workers < 0:
        print(f"error: --workers must be 1 or more, got {args.workers}", file=sys.stderr)
        return EXIT_USAGE
    try:
        files, hidden = find_image_files(args.paths)
        if not files:
            raise FileNotFoundError(f"no files to inspect in {', '.join(args.paths)}"
                                    + (f" ({plural(len(hidden), 'dot-file')} skipped)" if hidden else ""))
        if len(files) >= READ_IN_PROCESSES_FROM and not (args.workers or args.dask):
            start_photo_readers()  # their start-up overlaps loading the model
        predict, size, point, run_id = load_inspector(args.model, args.threshold)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    out = Path(args.out)
    try:
        claim_output(out)
    except FileExistsError:
        print(f"error: {out} exists; choose another --out (nothing is overwritten)", file=sys.stderr)
        return EXIT_USAGE
    except OSError as err:
        print(f"error: cannot write {out}: {err.strerror}; choose another --out", file=sys.stderr)
        return EXIT_WRITE
    if not (args.workers or args.dask):
        chunks = (inspect_files(predict, size, point, run_id, files[start:start + CHUNK], args.batch_size)
                  for start in range(0, len(files), CHUNK))
        return write_verdicts(chunks, point, run_id, files, hidden, out)
    try:
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, dashboard_address=None,
                               silence_logs=logging.ERROR) if args.workers else None
        client = Client(cluster or args.dask, timeout="30s")
    except (OSError, TimeoutError, ValueError) as err:
        out.unlink(missing_ok=True)
        print(f"error: cannot reach the Dask cluster {args.dask or 'started here'}: {err}", file=sys.stderr)
        return EXIT_USAGE
    with client, cluster or contextlib.nullcontext():
        return write_verdicts(dask_chunks(client, str(Path(args.model).resolve()), args.threshold, files,
                                          args.batch_size), point, run_id, files, hidden, out)


def dask_chunks(client, model: str, threshold: float | None, files: list[str], batch_size: int
                ) -> Iterator[pd.DataFrame]:
    """The verdict rows of each CHUNK of files, scored as one Dask task each, yielded in file order (each
    file scored once; a task lost with its worker is run again, up to twice)."""
    chunks = [files[start:start + CHUNK] for start in range(0, len(files), CHUNK)]
    futures = client.map(inspect_chunk, [model] * len(chunks), [threshold] * len(chunks), chunks,
                         [batch_size] * len(chunks), retries=2, pure=False)
    try:
        for future in futures:
            yield future.result()
    finally:
        client.cancel(futures)


def write_verdicts(chunks: Iterable[pd.DataFrame], point: dict, run_id: str, files: list[str],
                   hidden: list[str], out: Path) -> int:
    """Write each chunk of verdict rows into out's .part file as it comes, then move it into place; the
    exit status."""
    part = out.with_name(out.name + ".part")
    done, written = 0, []
    try:
        with tqdm(total=len(files), unit="image", file=sys.stderr) as bar:
            for rows in chunks:
                first = not done  # a fresh .part, whatever an earlier run left
                neutralise_formulas(rows).to_csv(part, mode="w" if first else "a", header=first, index=False)
                done += len(rows)
                written.append(rows[["verdict", "drift", "error"]])  # all the summary needs
                bar.update(len(rows))
        os.replace(part, out)
    except KeyboardInterrupt:
        partial = out.with_name(f"{out.stem}.partial-{done}-of-{len(files)}{out.suffix}")
        if done:
            os.replace(part, partial)
        out.unlink(missing_ok=True)
        print(f"\ninterrupted: {done} of {len(files)} files scored"
              + (f", kept in {partial}" if done else ""), file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as err:
        part.unlink(missing_ok=True)
        out.unlink(missing_ok=True)
        print(f"error: cannot write {part}: {err.strerror}; nothing was kept, free space or choose another "
              "--out", file=sys.stderr)
        return EXIT_WRITE
    rows = pd.concat(written, ignore_index=True)
    counts = rows["verdict"].replace("", "error").value_counts()
    summary = ", ".join([*(f"{counts.get(k, 0):,} {k}" for k in ("ok", "defect", "review")),
                         plural(int(counts.get("error", 0)), "error")])
    skipped = f" {plural(len(hidden), 'dot-file')} skipped." if hidden else ""
    drifted = int((rows["drift"] != "").sum())
    drift = (f" {drifted:,} unlike the training photos (drift column)."
             if point.get("drift_reference") is not None else
             f" No drift check: the model's run has no {DRIFT_REFERENCE} (an older run; `make report` "
             "writes one).")
    print(f"{plural(len(rows), 'file')}: {summary}.{skipped}{drift} Threshold {point['threshold']:.4f}, "
          "review band "
          f"[{point['review_low']}, {point['review_high']}), model run {run_id} ({point['runtime']}). "
          f"Written to {out}.")
    for error in rows.loc[rows["error"] != "", "error"]:
        print(f"error: {error}", file=sys.stderr)
    if warning := batch_warning(rows.loc[rows["error"] == "", "drift"].tolist()):
        print(warning, file=sys.stderr)
    return EXIT_UNREADABLE if (rows["error"] != "").any() else 0


if __name__ == "__main__":
    sys.exit(main())
