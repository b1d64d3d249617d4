"""A long step inside a kernel reaches `make report`'s terminal as a bar, nothing happens elsewhere, and the
training commands keep TensorFlow's C++ log lines off the terminal."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from lib import progress
from lib.config import PROJECT_ROOT


def test_without_the_runner_a_step_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv(progress.PROGRESS_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert list(progress.track(range(3), 3, "scoring photos")) == [0, 1, 2]
    assert not list(tmp_path.iterdir())


def test_a_tracked_step_ends_with_everything_done(tmp_path, monkeypatch):
    target = tmp_path / "progress"
    monkeypatch.setenv(progress.PROGRESS_ENV, str(target))
    seen = []
    mine = progress.step_file(target)
    for _ in progress.track(iter("abcd"), 4, "decoding photos", "image"):
        seen.append(progress.read_step(mine))
    assert seen[0] == ("decoding photos", 0, 4, "image")  # said before the first item
    assert progress.read_step(mine) == ("decoding photos", 4, 4, "image")
    assert [p.name for p in tmp_path.iterdir()] == [mine.name]  # no partial file left


def test_a_missing_or_garbled_progress_file_is_no_step(tmp_path):
    assert progress.read_step(tmp_path / "none") is None
    (tmp_path / "bad").write_text("half a li")
    assert progress.read_step(tmp_path / "bad") is None


def test_the_runner_draws_a_bar_for_each_kernel_running_side_by_side_and_tidies_up(tmp_path, monkeypatch,
                                                                                   capsys):
    monkeypatch.delenv(progress.PROGRESS_ENV, raising=False)
    target = tmp_path / ".progress"
    with progress.step_bars(target):
        # child processes, as kernels are, inherit where to write; each writes its own file
        kernels = [subprocess.Popen([sys.executable, "-c", "import time; from lib import progress; "
                                     f"progress.step({what!r}, 40, 167, 'batch', force=True); time.sleep(3)"])
                   for what in ("training, epoch 2/16", "scoring changed photos")]
        time.sleep(2)
        assert len(list(tmp_path.iterdir())) == 2
        for kernel in kernels:
            kernel.wait()
        time.sleep(4 * progress.EVERY)
        assert not list(tmp_path.iterdir()), "a finished kernel's step file stays"
    drawn = capsys.readouterr().err
    assert "training, epoch 2/16" in drawn and "scoring changed photos" in drawn and "40/167" in drawn
    assert not list(tmp_path.iterdir()) and progress.PROGRESS_ENV not in os.environ


def test_a_finished_step_is_drawn_to_its_end_once_not_again_while_the_kernel_goes_on(tmp_path, monkeypatch,
                                                                                  capsys):
    monkeypatch.delenv(progress.PROGRESS_ENV, raising=False)
    target = tmp_path / ".progress"
    with progress.step_bars(target):
        kernel = subprocess.Popen([sys.executable, "-c", "import time; from lib import progress; "
                                   "progress.step('decoding photos', 16, 16, 'image', force=True); "
                                   f"time.sleep({12 * progress.EVERY})"])
        kernel.wait()
    drawn = capsys.readouterr().err
    assert drawn.count("16/16") == 1, f"a finished bar was drawn again and again: {drawn!r}"


def run_quietly(tmp_path, source: str, *args: str) -> subprocess.CompletedProcess:
    """python -m lib.quietly on a module made of source, its log in tmp_path/native.log."""
    (tmp_path / "fake_command.py").write_text(source)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(PROJECT_ROOT)])}
    return subprocess.run([sys.executable, "-m", "lib.quietly", "--log", str(tmp_path / "native.log"),
                           "fake_command", *args], capture_output=True, text=True, env=env, cwd=PROJECT_ROOT)


def test_a_command_run_quietly_keeps_native_log_lines_off_the_terminal_and_its_progress_on_it(tmp_path):
    done = run_quietly(tmp_path, "import os, sys\n"
                       "os.write(2, b'I0000 00:00:17 cudart_stub.cc:31] a native line\\n')\n"
                       "print('epoch 1/2 done', file=sys.stderr)\n"
                       "print('arguments', sys.argv[1:])\n"
                       "sys.exit(3)\n", "--n", "5")
    assert done.returncode == 3, done.stderr
    assert "arguments ['--n', '5']" in done.stdout
    assert "epoch 1/2 done" in done.stderr and "I0000" not in done.stderr
    assert "native.log" in done.stderr  # a failed command says where its C++ lines went
    log = (tmp_path / "native.log").read_text()
    assert "python -m fake_command --n 5" in log and "I0000 00:00:17 cudart_stub.cc:31] a native line" in log


def test_tensorflow_run_quietly_prints_none_of_its_start_up_lines(tmp_path):
    done = run_quietly(tmp_path, "import tensorflow as tf\nprint(int(tf.constant(2) * 3))\n")
    assert done.returncode == 0 and done.stdout.strip() == "6", done.stderr
    assert done.stderr == "", f"TensorFlow reached the terminal: {done.stderr[:500]}"


def test_quietly_names_a_module_it_cannot_find(tmp_path):
    done = subprocess.run([sys.executable, "-m", "lib.quietly", "--log", str(tmp_path / "x.log"),
                           "lib.no_such"], capture_output=True, text=True, cwd=PROJECT_ROOT)
    assert done.returncode == 2 and "no module 'lib.no_such'" in done.stderr
