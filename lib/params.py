"""Read params/*.yaml (with `extends:`) over params/default.yaml, and check them against the notebooks."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import papermill
import yaml

from lib.config import DEFAULT_PARAMS, NOTEBOOKS_DIR
from lib.data import find_data_dir
from lib.settings import AUGMENTATIONS_OFF, out_of_range

# papermill reads `name: type = default` in a notebook's parameters cell; these are the types we use.
TYPES = {"int": int, "float": (int, float), "str": str, "bool": bool, "dict": dict, "list": list}
RUNNER_SET = ("run_dir",)  # parameters the report runner gives each notebook, never a params file


class ParamsError(Exception):
    """A params file that cannot be used; the message names the file and the key."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (plain YAML keeps the last silently)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"'{key}' is given twice",
                                                        key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def read_yaml_mapping(path: str | Path) -> dict:
    """One YAML file's mapping of parameter names to values, as written; ParamsError if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"params file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ParamsError(f"{path}: not a text file; a params file is YAML, as params/default.yaml") from None
    if not text.strip() or all(line.lstrip().startswith("#") for line in text.splitlines() if line.strip()):
        raise ParamsError(f"{path}: is empty; write the parameters that differ from default.yaml "
                          "(with `extends: default.yaml`), or use params/default.yaml itself")
    try:
        params = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(params, dict):
        raise ParamsError(f"{path}: must be a mapping of parameter names to values")
    return params


def load_params(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict:
    """A params file's settings with its `extends:` chain applied (the named file first, then this one)."""
    path = Path(path)
    if path.resolve() in _seen:
        raise ParamsError(f"{path}: `extends` goes round in a circle ({' -> '.join(p.name for p in _seen)})")
    params = read_yaml_mapping(path)
    base = params.pop("extends", None)
    if base is None:
        return params
    if not isinstance(base, str):
        raise ParamsError(f"{path}: `extends` must name one params file, e.g. `extends: default.yaml`")
    return {**load_params(path.parent / base, (*_seen, path.resolve())), **params}


def default_params(defaults: Path = DEFAULT_PARAMS) -> dict:
    """Every parameter's default value, from params/default.yaml."""
    return load_params(defaults)


def resolve_params(path: str | Path, defaults: Path = DEFAULT_PARAMS,
                   notebooks_dir: Path = NOTEBOOKS_DIR) -> dict:
    """The full settings of a run: params/default.yaml, overlaid by the file; checked whole first, and
    later_augmentation against the resolved number of networks."""
    given = load_params(path)
    validate_params(given, declared_parameters(chapter_notebooks(notebooks_dir)), path)
    resolved = {**default_params(defaults), **given}
    if resolved["later_augmentation"] and resolved["networks"] == 1:
        raise ParamsError(f"{path}: 'later_augmentation' is for the networks after the first, but "
                          "'networks' is 1: set networks to 2 or more, or remove later_augmentation")
    return resolved


def chapter_notebooks(notebooks_dir: Path = NOTEBOOKS_DIR) -> list[Path]:
    """The numbered chapter notebooks, in reading order."""
    return sorted(Path(notebooks_dir).glob("[0-9][0-9]_*.ipynb"))


def declared_parameters(notebooks: Iterable[str | Path]) -> dict[str, dict]:
    """Map each parameter name to its declared type name and the notebooks that declare it."""
    declared: dict[str, dict] = {}
    for notebook in notebooks:
        for name, info in papermill.inspect_notebook(str(notebook)).items():
            entry = declared.setdefault(name, {"type": info["inferred_type_name"], "notebooks": []})
            if entry["type"] != info["inferred_type_name"]:
                raise ParamsError(
                    f"{notebook}: parameter '{name}' is {info['inferred_type_name']} here "
                    f"but {entry['type']} in {entry['notebooks'][0]}"
                )
            entry["notebooks"].append(Path(notebook).name)
    return declared


def validate_params(params: dict, declared: dict[str, dict], source: str | Path) -> None:
    """Raise ParamsError naming the key and file for an unknown key, a value of the wrong type or out of
    its range (lib/settings.py), an unknown augmentation or a reversed review band."""
    for key, value in params.items():
        if key not in declared or key in RUNNER_SET:
            known = ", ".join(sorted(set(declared) - set(RUNNER_SET)))
            raise ParamsError(f"{source}: unknown parameter '{key}'. Known parameters: {known}")
        type_name = declared[key]["type"]
        expected = TYPES.get(type_name)
        if expected is None:
            continue  # undeclared type: papermill passes the value through unchecked
        wrong_bool = isinstance(value, bool) and type_name in ("int", "float")
        if wrong_bool or not isinstance(value, expected):
            raise ParamsError(
                f"{source}: parameter '{key}' must be {type_name} "
                f"(see {declared[key]['notebooks'][0]}), got {type(value).__name__} {value!r}"
            )
        why = out_of_range(key, value)
        if why:
            raise ParamsError(f"{source}: parameter '{key}' {why}, got {value!r}")
    for key in ("augmentation", "later_augmentation"):
        unknown = sorted(set(params.get(key) or {}) - set(AUGMENTATIONS_OFF))
        if unknown:
            raise ParamsError(f"{source}: unknown augmentation {', '.join(unknown)} under '{key}'. "
                              f"Known: {', '.join(AUGMENTATIONS_OFF)}")
    low, high = params.get("review_low"), params.get("review_high")
    if isinstance(low, (int, float)) and isinstance(high, (int, float)) and low > high:
        raise ParamsError(f"{source}: review_low ({low}) is above review_high ({high}): the band is reversed")


def for_notebook(params: dict, declared: dict[str, dict], notebook: str) -> dict:
    """The subset of params that one notebook declares."""
    return {k: v for k, v in params.items() if notebook in declared.get(k, {}).get("notebooks", [])}


def params_and_data(params_file: str | Path, data_dir: str = "") -> tuple[dict, Path]:
    """A command's settings (params_file over default.yaml, data_dir given on the command line first) and
    its data folder; ParamsError or DataError naming the file or folder and the fix."""
    p = resolve_params(params_file)
    p["data_dir"] = data_dir or p["data_dir"]
    return p, find_data_dir(p["data_dir"] or None)
