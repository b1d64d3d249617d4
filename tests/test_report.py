"""The report runner: fresh run folders, fingerprints, failures, and a smoke run of the notebooks."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys

import pandas as pd
import pytest

from lib.config import NOTEBOOKS_DIR
from lib.params import chapter_notebooks
from lib.progress import native_stderr_to
from lib.report import chapter_waves, main
from lib.runs import data_fingerprint, mark_stale_runs, new_run_dir
from lib.summary import MAX_SUMMARY_BYTES, SCREENSHOTS, SUMMARY_HTML, SUMMARY_PDF

NOW = dt.datetime(2026, 11, 22, 9, 30, 5)
# what TensorFlow, absl, CUDA and Jupyter print: never in a page for management
LOG_LINE = re.compile(r"(?:INFO|WARNING|ERROR):(?:tensorflow|absl|root)|\b[IWE]0000 \d\d:|Assets written to|"
                      r"oneDNN custom operations|cuda drivers|cuInit|running over TCP|UserWarning|"
                      r"DeprecationWarning")


def test_run_folder_is_named_by_time_and_params(tmp_path):
    assert new_run_dir(tmp_path, "smoke", NOW).name == "20261122-093005-smoke"


def test_run_folder_never_reuses_an_existing_one(tmp_path):
    first = new_run_dir(tmp_path, "smoke", NOW)
    (first / "keep.txt").write_text("earlier run")
    second = new_run_dir(tmp_path, "smoke", NOW)
    assert second != first and second.name == "20261122-093005-smoke-2"
    assert (first / "keep.txt").read_text() == "earlier run"


def test_fingerprint_changes_when_a_file_is_added(casting_tree):
    before = data_fingerprint(casting_tree)
    (casting_tree / "test" / "ok_front" / "new.jpeg").write_bytes(b"x")
    after = data_fingerprint(casting_tree)
    assert after["files"] == before["files"] + 1 and after["sha256"] != before["sha256"]


def test_unknown_parameter_stops_before_any_run_folder(tmp_path, casting_tree, capsys):
    params = tmp_path / "typo.yaml"
    params.write_text(f"data_dir: {casting_tree}\nepoch: 3\n")
    assert main([str(params), "--outputs", str(tmp_path / "out")]) == 1
    assert "typo.yaml: unknown parameter 'epoch'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_missing_data_folder_stops_with_its_path(tmp_path, capsys):
    params = tmp_path / "p.yaml"
    params.write_text(f"data_dir: {tmp_path / 'nowhere'}\n")
    assert main([str(params), "--outputs", str(tmp_path / "out")]) == 1
    assert f"data folder not found: {tmp_path / 'nowhere'}" in capsys.readouterr().err


@pytest.mark.parametrize("how", ["Ctrl-C", "kill (SIGTERM)"])
def test_an_interrupted_report_is_marked_interrupted_and_latest_stays(tmp_path, casting_tree, monkeypatch,
                                                                      capsys, how):
    def stopped(*args, **kwargs):  # chapters 1 and 2, side by side: as if Ctrl-C was pressed or kill sent
        if how == "Ctrl-C":
            raise KeyboardInterrupt
        os.kill(os.getpid(), signal.SIGTERM)  # twice, one from each chapter: the run is still written down

    monkeypatch.setattr("lib.report.papermill.execute_notebook", stopped)
    out = tmp_path / "out"
    out.mkdir()
    (out / "earlier").mkdir()
    (out / "latest").symlink_to("earlier")
    params = tmp_path / "p.yaml"
    params.write_text(f"data_dir: {casting_tree}\n")
    assert main([str(params), "--outputs", str(out)]) == 130
    assert "marked interrupted" in capsys.readouterr().err
    (run,) = [p for p in out.iterdir() if p.name not in ("latest", "earlier", "cache")]
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert [(c["notebook"][:2], c["status"]) for c in manifest["chapters"]] == [("01", "interrupted"),
                                                                               ("02", "interrupted")]
    assert "status <b>interrupted</b>" in (run / "index.html").read_text()
    assert os.readlink(out / "latest") == "earlier"


@pytest.mark.parametrize("choice", ["skip", "fail"])
def test_unreadable_images_in_the_data_set_are_listed_on_the_index_and_in_the_manifest(
        tmp_path, casting_tree, monkeypatch, capsys, choice):
    broken = casting_tree / "train" / "ok_front" / "cast_ok_0_3.jpeg"
    broken.write_bytes(broken.read_bytes()[:200])
    monkeypatch.setattr("lib.report.papermill.execute_notebook", lambda *args, **kwargs: None)
    params = tmp_path / "p.yaml"
    params.write_text(f"data_dir: {casting_tree}\nunreadable_images: {choice}\n")
    out = tmp_path / "out"
    assert main([str(params), "--outputs", str(out)]) == (0 if choice == "skip" else 1)
    printed = capsys.readouterr()
    assert "1 unreadable image in the data set" in printed.out
    (run,) = [p for p in out.iterdir() if p.name not in ("latest", "cache")]
    manifest = json.loads((run / "manifest.json").read_text())
    assert [s["path"] for s in manifest["skipped_images"]] == [str(broken)]
    assert manifest["status"] == ("complete" if choice == "skip" else "failed")
    index = (run / "index.html").read_text()
    assert "1 unreadable image left out" in index and "truncated JPEG" in index
    assert pd.read_csv(run / "skipped_images.csv").path.tolist() == [str(broken)]


def test_chapters_that_read_only_earlier_chapters_run_side_by_side_and_the_rest_in_turn():
    notebooks = chapter_notebooks(NOTEBOOKS_DIR)
    waves = [[n.stem[:2] for n in wave] for wave in chapter_waves(notebooks)]
    assert waves == [["01", "02"], ["03"], ["04"], ["05", "07"], ["06"]]  # 7 needs only chapter 3's recipe
    assert sorted(n for wave in chapter_waves(notebooks) for n in wave) == notebooks
    alone = [n for n in notebooks if n.stem[:2] in ("01", "03", "06")]
    assert [[n.stem[:2] for n in wave] for wave in chapter_waves(alone)] == [["01"], ["03"], ["06"]]


def test_a_killed_report_left_running_is_recognised_by_the_next_run(tmp_path):
    gone = subprocess.run(["sh", "-c", "echo $$"], capture_output=True, text=True).stdout.strip()
    run = tmp_path / "20261201-000000-default"
    run.mkdir()
    left = {"status": "running", "pid": int(gone), "host": socket.gethostname(),
            "heartbeat": "2026-12-01T00:05"}
    (run / "manifest.json").write_text(json.dumps(left))
    alive = tmp_path / "20261201-000001-default"
    alive.mkdir()
    (alive / "manifest.json").write_text(json.dumps({"status": "running", "pid": os.getpid(),
                                                     "host": socket.gethostname()}))
    (stale, manifest), = mark_stale_runs(tmp_path)
    assert stale == run and manifest["status"] == "killed" and "2026-12-01T00:05" in manifest["note"]
    assert json.loads((run / "manifest.json").read_text())["status"] == "killed"
    assert json.loads((alive / "manifest.json").read_text())["status"] == "running"


@pytest.mark.slow
def test_failing_notebook_keeps_partial_run_and_names_the_cell(tmp_path, casting_tree, capsys):
    source = json.loads((NOTEBOOKS_DIR / "01_explore.ipynb").read_text())
    broken = tmp_path / "notebooks"
    broken.mkdir()
    source["cells"].insert(3, {"cell_type": "code", "metadata": {}, "outputs": [],
                               "execution_count": None, "id": "boom", "source": "raise RuntimeError('boom')"})
    (broken / "01_explore.ipynb").write_text(json.dumps(source))
    params = tmp_path / "p.yaml"
    params.write_text(f"data_dir: {casting_tree}\n")
    out = tmp_path / "out"
    assert main([str(params), "--notebooks", str(broken), "--outputs", str(out)]) == 1
    err = capsys.readouterr().err
    assert "01_explore.ipynb failed in cell 4 of" in err  # 4: papermill injects a cell
    assert "raise RuntimeError('boom')" in err and "RuntimeError: boom" in err
    (run,) = [p for p in out.iterdir() if p.name not in ("latest", "cache")]
    assert json.loads((run / "manifest.json").read_text())["status"] == "failed"
    assert (run / "01_explore.html").exists() and not (out / "latest").exists()


@pytest.mark.slow
def test_smoke_report_renders_every_chapter_without_code(smoke_run):
    manifest = json.loads((smoke_run / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["data"]["files"] == 2 * (20 + 6)  # two classes
    chapters = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
    assert [c["notebook"] for c in manifest["chapters"]] == [c.name for c in chapters]
    for notebook in chapters:
        page = (smoke_run / notebook.with_suffix(".html").name).read_text()
        assert not re.search(r'<img[^>]+src="data:image/png', page)  # JPEG: a fifth of PNG's weight
        assert not LOG_LINE.search(page), f"{notebook.name} shows a log line: {LOG_LINE.search(page)[0]}"
        assert "from lib import" not in page  # code is hidden
        assert not re.findall(r'<(?:script|link|img)[^>]+(?:src|href)="https?://', page)  # offline
    index = (smoke_run / "index.html").read_text()
    assert all(n.with_suffix(".html").name in index for n in chapters)
    assert index.index("What would ship") < index.index("Chapters") < index.index("For analysts")
    assert index.index("For analysts") < index.index("Package versions")
    for written in ("best.keras", "history.csv", "operating_point.json", "test_predictions.csv",
                    "exact_duplicates_test_train.csv", "params.yaml", "split.csv", "drift_reference.json",
                    "label_audit.csv", "drift_check.csv", "summary.html"):
        assert (smoke_run / written).is_file(), written


def test_no_chapter_an_analyst_opens_carries_a_python_warning_or_a_library_log_line(smoke_run):
    for executed in sorted((smoke_run / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        said = "".join("".join(out.get("text", "")) for cell in json.loads(executed.read_text())["cells"]
                       for out in cell.get("outputs", []) if out.get("name") == "stderr")
        warned = re.search(r"\b[A-Za-z]+Warning: .*", said)  # e.g. tqdm.auto's "IProgress not found"
        assert not warned, f"{executed.name} shows {warned[0]}"
        # TensorFlow's C++ start-up lines (absl: "I0000 00:00:17965... port.cc:153] oneDNN ..."), written
        # below Python: the kernel leaves them on its own stderr (make setup's kernel config)
        logged = re.search(r"(?m)^(?:[IWEF]\d{4} \d\d:\d\d:\d\d|WARNING: All log messages before absl).*",
                           said)
        assert not logged, f"{executed.name} shows {logged[0]}"


def test_the_smoke_report_writes_a_light_summary_and_its_pdf_and_light_chapters(smoke_run):
    summary_page = (smoke_run / SUMMARY_HTML).read_text()
    assert len(summary_page.encode()) <= MAX_SUMMARY_BYTES and "What would ship" in summary_page
    for chapter in smoke_run.glob("0*.html"):
        assert chapter.stat().st_size <= 3_000_000, f"{chapter.name}: {chapter.stat().st_size / 1e6:.1f} MB"
    if not (shutil.which("chromium") and shutil.which("pdftotext")):
        pytest.skip("Debian's chromium and poppler-utils draw the PDF (`make browser` installs both)")
    pages = subprocess.run(["pdfinfo", str(smoke_run / SUMMARY_PDF)], capture_output=True, text=True,
                           check=True)
    assert 1 <= int(re.search(r"Pages:\s+(\d+)", pages.stdout)[1]) <= 20
    text = " ".join(subprocess.run(["pdftotext", str(smoke_run / SUMMARY_PDF), "-"], capture_output=True,
                                   text=True, check=True).stdout.split())
    assert "What would ship" in text and "sent" in text
    for shot in SCREENSHOTS:
        assert (smoke_run / shot).read_bytes()[:4] == b"\x89PNG", shot


def test_what_kernels_write_to_stderr_goes_to_the_run_log_not_the_terminal(tmp_path, capfd):
    with native_stderr_to(tmp_path / "kernels.log"):
        subprocess.run([sys.executable, "-c", "import sys; sys.stderr.write('I0000 00:00 a log line\\n')"],
                       check=True)
        print("progress for the person", file=sys.stderr)
    said = capfd.readouterr()
    assert "I0000" not in said.err and "progress for the person" in said.err
    assert "I0000 00:00 a log line" in (tmp_path / "kernels.log").read_text()


def test_the_report_runner_does_not_load_tensorflow():
    code = "import sys, lib.report; print('tensorflow' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False", "TensorFlow's import prints log lines the terminal should not show"
