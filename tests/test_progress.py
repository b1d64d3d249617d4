"""A long step inside a kernel reaches `make report`'s terminal as a bar, and nothing happens elsewhere."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from lib import progress


def test_without_the_runner_a_step_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv(progress.PROGRESS_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert list(progress.track(range(3), 3, "scoring photos")) == [0, 1, 2]
    assert not list(tmp_path.iterdir())


def test_a_tracked_step_ends_with_everything_done(tmp_path, monkeypatch):
    target = tmp_path / "progress"
    monkeypatch.setenv(progress.PROGRESS_ENV, str(target))
    seen = []
    for _ in progress.track(iter("abcd"), 4, "decoding photos", "image"):
        seen.append(progress.read_step(target))
    assert seen[0] == ("decoding photos", 0, 4, "image")  # said before the first item
    assert progress.read_step(target) == ("decoding photos", 4, 4, "image")
    assert not (tmp_path / "progress.partial").exists()


def test_a_missing_or_garbled_progress_file_is_no_step(tmp_path):
    assert progress.read_step(tmp_path / "none") is None
    (tmp_path / "bad").write_text("half a li")
    assert progress.read_step(tmp_path / "bad") is None


def test_the_runner_draws_a_kernel_process_step_and_tidies_up(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(progress.PROGRESS_ENV, raising=False)
    target = tmp_path / ".progress"
    with progress.step_bars(target):
        # a child process, as a kernel is, inherits where to write
        subprocess.run([sys.executable, "-c", "from lib import progress; "
                        "progress.step('training, epoch 2/16', 40, 167, 'batch', force=True)"], check=True)
        time.sleep(4 * progress.EVERY)
    drawn = capsys.readouterr().err
    assert "training, epoch 2/16" in drawn and "40/167" in drawn
    assert not target.exists() and progress.PROGRESS_ENV not in os.environ
