"""`make data`: link or download the casting image set, then check every image once."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

from lib.data import (
    DATA_ENV_VAR,
    DEFAULT_DATA_DIR,
    GET_DATA_HINT,
    PROJECT_ROOT,
    DataError,
    check_dataset,
    find_data_dir,
)

SHARED_DATA_DIR = PROJECT_ROOT.parent / "shared" / "data" / "casting_data"
KAGGLE_DATASET = "ravirajsinh45/real-life-industrial-dataset-of-casting-product"


def has_kaggle_credentials() -> bool:
    """True when kagglehub can log in: KAGGLE_USERNAME/KAGGLE_KEY or ~/.kaggle/kaggle.json."""
    env = os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY")
    return bool(env) or (Path.home() / ".kaggle" / "kaggle.json").is_file()


def find_casting_root(folder: Path) -> Path:
    """The first folder below `folder` that holds train/def_front (the Kaggle archive nests it)."""
    for candidate in sorted(folder.rglob("def_front")):
        root = candidate.parent.parent
        if candidate.parent.name == "train" and (root / "test").is_dir():
            return root
    raise DataError(f"no casting_data (train/def_front) found in the download at {folder}")


def provide_data(link: Path = DEFAULT_DATA_DIR, shared: Path = SHARED_DATA_DIR) -> Path:
    """Return the data root, linking the shared copy or downloading from Kaggle if needed."""
    if os.environ.get(DATA_ENV_VAR) or link.is_dir():
        return find_data_dir()
    if link.is_symlink():
        link.unlink()  # a dangling link from a moved checkout
    if shared.is_dir():
        source = shared
    elif has_kaggle_credentials():
        import kagglehub

        print(f"downloading {KAGGLE_DATASET} with kagglehub ...", flush=True)
        source = find_casting_root(Path(kagglehub.dataset_download(KAGGLE_DATASET)))
    else:
        raise DataError(f"no data at {link} and no Kaggle credentials. {GET_DATA_HINT}")
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(source.resolve(), target_is_directory=True)
    print(f"linked {link} -> {source.resolve()}")
    return link


def main() -> int:
    """Provide the data, decode every image once, and print the counts or one-line errors."""
    warnings.simplefilter("always")
    warnings.showwarning = lambda msg, *a, **k: print(f"warning: {msg}", file=sys.stderr)
    try:
        root = provide_data()
        print(f"checking every image in {root} ...", flush=True)
        counts = check_dataset(root)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(counts.to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
