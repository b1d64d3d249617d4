"""`make data`: link or download the casting images (or use the params file's data_dir); check every image."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

import kagglehub

from lib.config import DATA_ENV_VAR, DEFAULT_DATA_DIR, DEFAULT_PARAMS, KAGGLE_DATASET, SHARED_DATA_DIR
from lib.data import GET_DATA_HINT, DataError, check_dataset, find_data_dir
from lib.params import ParamsError, resolve_params


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
    if os.environ.get(DATA_ENV_VAR):
        chosen = Path(os.environ[DATA_ENV_VAR]).expanduser()
        if not chosen.is_dir():
            raise DataError(f"{DATA_ENV_VAR} is set to {chosen}, which is not a folder: point it at the "
                            f"casting_data folder, or unset it to use {link}")
        return find_data_dir(chosen)
    if link.is_dir():
        return find_data_dir(link)
    if link.is_symlink():  # a dangling link, from a moved checkout or a moved data set
        print(f"removed {link}: it pointed to {os.readlink(link)}, which no longer exists", file=sys.stderr)
        link.unlink()
    if shared.is_dir():
        source = shared
    elif has_kaggle_credentials():
        print(f"downloading {KAGGLE_DATASET} with kagglehub ...", flush=True)
        source = find_casting_root(Path(kagglehub.dataset_download(KAGGLE_DATASET)))
    else:
        raise DataError(f"no data at {link} and no Kaggle credentials. {GET_DATA_HINT}")
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(source.resolve(), target_is_directory=True)
    print(f"linked {link} -> {source.resolve()}")
    return link


def main(argv: list[str] | None = None) -> int:
    """Provide the data (the params file's data_dir when set), decode every image, print the counts."""
    parser = argparse.ArgumentParser(prog="python -m lib.get_data", description=__doc__)
    parser.add_argument("--params", type=Path, default=DEFAULT_PARAMS,
                        help="a params file; its data_dir, when set, is checked, not data/casting_data")
    args = parser.parse_args(argv)
    warnings.simplefilter("always")
    warnings.showwarning = lambda msg, *a, **k: print(f"warning: {msg}", file=sys.stderr)
    try:
        data_dir = resolve_params(args.params).get("data_dir", "")
        root = find_data_dir(data_dir) if data_dir else provide_data()
        print(f"checking every image in {root} ...", flush=True)
        counts = check_dataset(root)
    except (DataError, ParamsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(counts.to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
