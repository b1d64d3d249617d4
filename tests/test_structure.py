"""The layout: imports flow one way (down the layers), all at the top, and every module imports alone."""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import pytest

from lib.config import PROJECT_ROOT

LIB = PROJECT_ROOT / "lib"
# Lowest first: a module may import only from layers below its own (README, "Layout").
LAYERS = [
    {"config", "part", "progress", "settings", "words"},
    {"data", "explore", "headline", "runs"},
    {"near_duplicates", "drift", "params"},
    {"splits", "runtime"},
    {"augment", "models"},
    {"train", "scoring"},
    {"decision"},
    {"evaluate", "explain", "inspection"},
    {"narrative", "plots", "robustness", "cv_results"},
    {"crossval", "summary"},
    {"audit"},
    # the command line: used by none
    {"inspect", "report", "bench", "backbones", "repeat", "get_data", "cv", "compare", "quietly"},
]
COMMANDS = LAYERS[-1]
MODULES = sorted(p.stem for p in LIB.glob("*.py") if p.stem != "__init__")


def lib_imports(tree: ast.AST) -> set[str]:
    """The lib modules a parsed file imports (`from lib import x`, `from lib.x import y`, `import lib.x`)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "lib":
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lib."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("lib.")}
    return found


def layer_of(module: str) -> int:
    return next(i for i, layer in enumerate(LAYERS) if module in layer)


def test_every_module_has_a_layer():
    assert set(MODULES) <= set().union(*LAYERS), "add the new module to LAYERS and to the README's layout"


@pytest.mark.parametrize("module", MODULES)
def test_a_module_imports_only_from_layers_below_it(module):
    imported = lib_imports(ast.parse((LIB / f"{module}.py").read_text()))
    upward = sorted(m for m in imported if layer_of(m) >= layer_of(module))
    assert not upward, f"lib/{module}.py imports {upward}, at its layer or above: move the shared piece down"
    assert not imported & COMMANDS, f"lib/{module}.py imports a command-line module"


@pytest.mark.parametrize("module", MODULES)
def test_every_import_sits_at_the_top_of_the_file(module):
    tree = ast.parse((LIB / f"{module}.py").read_text())
    nested = [inner.lineno for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.ClassDef)
              for inner in ast.walk(node) if isinstance(inner, ast.Import | ast.ImportFrom)]
    assert not nested, f"lib/{module}.py imports inside a function or class, at lines {nested}"


def test_each_module_imports_on_its_own():
    script = ("import importlib, sys\n"
              f"for name in {MODULES!r}:\n"
              "    for loaded in [m for m in sys.modules if m == 'lib' or m.startswith('lib.')]:\n"
              "        del sys.modules[loaded]\n"
              "    importlib.import_module('lib.' + name)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=PROJECT_ROOT,
                          env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": ""})
    assert done.returncode == 0, done.stderr[-2000:]


NOTEBOOKS = PROJECT_ROOT / "notebooks"
# chapters that train nothing and score, if at all, with the run's model.tflite on LiteRT
WITHOUT_TENSORFLOW = ("01_explore", "04_evaluate", "06_robustness", "07_new_parts")


def loaded_by_chapter(chapter: str) -> set[str]:
    """The top-level packages a fresh interpreter holds after a chapter's own lib imports."""
    cells = json.loads((NOTEBOOKS / f"{chapter}.ipynb").read_text())["cells"]
    imports = sorted({f"lib.{m}" for c in cells if c["cell_type"] == "code"
                      for m in lib_imports(ast.parse("".join(c["source"])))})
    script = ("import importlib, sys\n"
              f"for name in {imports!r}:\n"
              "    importlib.import_module(name)\n"
              "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=PROJECT_ROOT,
                          env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": ""})
    assert done.returncode == 0, done.stderr[-2000:]
    return set(done.stdout.split())


@pytest.mark.parametrize("chapter", sorted(p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")))
def test_no_chapter_kernel_imports_papermill_which_only_the_runner_needs(chapter):
    assert "papermill" not in loaded_by_chapter(chapter), \
        f"{chapter}'s lib imports load papermill (2.5 s with nbformat): keep it out"


@pytest.mark.parametrize("chapter", WITHOUT_TENSORFLOW)
def test_chapters_that_train_nothing_start_without_tensorflow(chapter):
    loaded = loaded_by_chapter(chapter)
    assert not loaded & {"tensorflow", "keras"}, f"{chapter}'s lib imports load TensorFlow: move it down"
