"""Where things live: the project's folders and the data-folder lookup order (imports nothing of lib)."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
PARAMS_DIR = PROJECT_ROOT / "params"
DEFAULT_PARAMS = PARAMS_DIR / "default.yaml"  # the one source of every default
OUTPUTS_DIR = PROJECT_ROOT / "outputs"
CACHE_DIR = OUTPUTS_DIR / "cache"  # computed near-twin pairs, one file per image set
SHIPPED_DIR = Path(__file__).resolve().parent / "shipped"  # small files that come with the project
DATA_ENV_VAR = "CASTING_DATA_DIR"
DEFAULT_DATA_DIR = PROJECT_ROOT / "data" / "casting_data"
SHARED_DATA_DIR = PROJECT_ROOT.parent / "shared" / "data" / "casting_data"
KAGGLE_DATASET = "ravirajsinh45/real-life-industrial-dataset-of-casting-product"
RECIPE = "recipe.json"  # the settings a run's network was trained with (cross-validation is matched on them)
TRAIN_SUMMARY = "train_summary.json"  # a run's training: epochs, best epoch, seconds
BEST_MODEL = "best.keras"  # a run's network, the best epoch by validation loss
BACKBONES_CSV = "backbones.csv"  # make backbones' table, written once every network is measured
BACKBONES_SETTINGS = "backbones.json"  # and what it compared, written before the first network trains
