"""Read a params/*.yaml file and check it against the parameters the notebooks declare."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import yaml

# papermill reads `name: type = default` in a notebook's parameters cell; these are the types we use.
TYPES = {"int": int, "float": (int, float), "str": str, "bool": bool, "dict": dict, "list": list}


class ParamsError(Exception):
    """A params file that cannot be used; the message names the file and the key."""


def load_params(path: str | Path) -> dict:
    """Read a YAML mapping of parameter names to values; ParamsError if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"params file not found: {path}")
    try:
        params = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(params, dict):
        raise ParamsError(f"{path}: must be a mapping of parameter names to values")
    return params


def declared_parameters(notebooks: Iterable[str | Path]) -> dict[str, dict]:
    """Map each parameter name to its declared type name and the notebooks that declare it."""
    import papermill

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
    """Raise ParamsError naming the key and file for an unknown key or a value of the wrong type."""
    for key, value in params.items():
        if key not in declared:
            known = ", ".join(sorted(declared))
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
