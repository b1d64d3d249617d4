"""Turn photos of new parts into verdicts with a trained model: `python -m lib.inspect PATH... --model RUN`.

Decoding runs in a thread pool, overlapped with batched prediction by a TensorFlow Lite copy of
the model. Every file found gets one row in the CSV; an unreadable one gets its error and no
verdict, and the exit status is then 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from lib.data import find_image_files
from lib.decision import inspect_files, load_inspector


def main(argv: list[str] | None = None) -> int:
    """Command line; exit 0 when every file was read, 1 when any could not be, 2 on bad arguments."""
    parser = argparse.ArgumentParser(prog="python -m lib.inspect", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", help="image files or folders (searched recursively)")
    parser.add_argument("--model", required=True, help="a run folder from outputs/ or a .keras file")
    parser.add_argument("--out", default="verdicts.csv", help="CSV to write (default verdicts.csv)")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args(argv)
    try:
        files = find_image_files(args.paths)
        model, point, run_id = load_inspector(args.model)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = Path(args.out)
    if out.exists():
        print(f"error: {out} exists; choose another --out (nothing is overwritten)", file=sys.stderr)
        return 2
    rows = inspect_files(model, point, run_id, files, args.batch_size, progress=True)
    tmp = out.with_name(out.name + ".part")
    rows.to_csv(tmp, index=False)
    os.replace(tmp, out)
    counts = rows["verdict"].replace("", "error").value_counts()
    summary = ", ".join(f"{counts.get(k, 0)} {k}" for k in ("ok", "defect", "review", "error"))
    print(f"{len(rows)} files: {summary}. Threshold {point['threshold']:.4f}, review band "
          f"[{point['review_low']}, {point['review_high']}), model run {run_id}. Written to {out}.")
    for error in rows.loc[rows["error"] != "", "error"]:
        print(f"error: {error}", file=sys.stderr)
    return 1 if (rows["error"] != "").any() else 0


if __name__ == "__main__":
    sys.exit(main())
