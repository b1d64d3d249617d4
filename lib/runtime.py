"""Scoring on the line, without TensorFlow: the eight views, a run's TensorFlow Lite model run by LiteRT, and
files to scores.

A line PC needs numpy, opencv, ai-edge-litert and loky (requirements-line.txt), not TensorFlow: training
writes MODEL_TFLITE (8-bit weights, scoring.WEIGHTS_8BIT) beside best.keras, and lib.inspect and chapters 4
and 6 score with it (run_predictor). Training commands and tests convert a Keras model in memory the same way
(scoring.fast_predictor) and run it through the very same predictor (LitePredictor), which score_files sends
to its reading processes as the flatbuffer's bytes, so that each reads and scores its share of the files.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from ai_edge_litert.interpreter import Interpreter
from loky import get_reusable_executor
from tqdm import tqdm

from lib.config import BEST_MODEL
from lib.data import decode_image, resize_image, try_read_image
from lib.drift import photo_drift
from lib.part import centre_part, find_part
from lib.progress import Item, native_stderr_to, track

VIEWS = (1, 8)  # score the photo as taken, or the mean over its eight turned and mirrored views
MODEL_TFLITE = "model.tflite"  # the run's network as a TensorFlow Lite flatbuffer, for the line
READ_IN_PROCESSES_FROM = 256  # files from which score_files reads photos in a process per core, not threads
READ_CHUNK = 16  # files a reading process is handed at a time, to read
SCORE_CHUNK = 32  # files a reading process is handed at a time, to read and score: 1,270 test photos a
# second, against 1,200 at 16 and 1,170 at 64 (two cores, 2026-12-02)
READERS_IDLE_S = 300  # idle reading processes stop after this long, and start again when needed
NETWORK_BATCH = 32  # images of one view per LiteRT call: on one thread 0.070 ms a view at 8 to 32, 0.076
# at 64, 0.110 at 128 (2026-12-02)
SURE = 0.005  # with eight views, a part whose four turns score below SURE or above 1 - SURE on average keeps
# that mean, and only the others are also scored mirrored: chosen on the validation splits of three reports
# (2026-12-06, the largest margin of 0.1 to 0.001 changing no verdict of all eight views); 59-71% of the
# parts skip the mirrored views, and no test verdict changed (outputs/20261206-views-criteria.txt)

Predictor = Callable[[np.ndarray], np.ndarray]


def dihedral_views(images: np.ndarray) -> list[np.ndarray]:
    """The eight views of (N, H, W, ...) square images, each (N, H, W, ...) and not copied: the four quarter
    turns, then the same mirrored."""
    turns = [np.rot90(images, turn, axes=(1, 2)) for turn in range(4)]
    return turns + [turned[:, :, ::-1] for turned in turns]


def tflite_predictor(flatbuffer: bytes, views: int = 1, threads: int | None = None, sure: float = SURE
                     ) -> tuple[Predictor, int]:
    """A TensorFlow Lite model on LiteRT (XNNPACK, threads or every core): a function from (N, H, W) uint8
    images to N defect probabilities (with views=8, each the mean over the eight dihedral views, or over the
    four turns where those are sure: eight_view_scores), which can be sent to another process
    (LitePredictor), and its input size."""
    if views not in VIEWS:
        raise ValueError(f"test_time_views must be one of {VIEWS}, not {views}")
    if not 0 <= sure < 0.5:
        raise ValueError(f"sure must lie in [0, 0.5), not {sure}")
    predict = LitePredictor(flatbuffer, views, threads, sure)
    return predict, _network(flatbuffer, views, threads, threading.get_ident(), sure)[1]


@dataclasses.dataclass(frozen=True, eq=False)
class LitePredictor:
    """A Predictor of a TensorFlow Lite flatbuffer that pickles as its bytes: every process and thread that
    calls it runs its own interpreter, made at its first call and kept (score_files scores in its reading
    processes so)."""

    flatbuffer: bytes
    views: int = 1
    threads: int | None = None  # None: every core
    sure: float = SURE  # 0: every part scored in all eight views

    def __call__(self, images: np.ndarray) -> np.ndarray:
        predict = _network(self.flatbuffer, self.views, self.threads, threading.get_ident(), self.sure)[0]
        return predict(images)


@functools.lru_cache(maxsize=8)
def _network(flatbuffer: bytes, views: int, threads: int | None, thread: int, sure: float
             ) -> tuple[Predictor, int]:
    """The interpreter of a flatbuffer for one thread, as a predictor, and its input size.

    The network is run on NETWORK_BATCH images of one view at a time, each view written straight into the
    interpreter's input: the same scores as one call on every view at once (a part's score does not depend
    on its batch), in less time."""
    interpreter = Interpreter(model_content=flatbuffer, num_threads=threads or os.cpu_count())
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    shape: list[int] = []

    def run(view: np.ndarray) -> np.ndarray:
        """The network's scores for (N, H, W, 1) uint8 images, scaled to [0, 1] as they are written in."""
        if list(view.shape) != shape:
            interpreter.resize_tensor_input(source["index"], list(view.shape))
            with native_stderr_to(os.devnull):  # "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
                interpreter.allocate_tensors()
            shape[:] = view.shape
        # one pass, turned as it is read: the float32 of uint8 / 255, as astype(np.float32) / 255.0 gives it
        np.divide(view, np.float32(255.0), out=interpreter.tensor(source["index"])(), dtype=np.float32)
        interpreter.invoke()  # (no reference to the input buffer is kept past this point)
        return interpreter.get_tensor(target["index"]).reshape(-1)

    def predict(images: np.ndarray) -> np.ndarray:
        scores = []
        for start in range(0, len(images), NETWORK_BATCH):
            x = images[start:start + NETWORK_BATCH, ..., None]
            scores.append(eight_view_scores(run, x, sure) if views > 1 else run(x))
        return np.concatenate(scores) if scores else np.zeros(0, np.float32)

    return predict, int(source["shape"][1])


def is_sure(scores: np.ndarray, sure: float = SURE) -> np.ndarray:
    """True where a score lies within sure of 0 or 1: a part its four turns are sure of."""
    return (scores < sure) | (scores > 1 - sure)


def eight_view_scores(run: Predictor, images: np.ndarray, sure: float) -> np.ndarray:
    """Each image's mean score over its eight dihedral views (run scores one view of them all), the four
    mirrored views run only on images whose four turns score in [sure, 1 - sure] on average: the others
    keep that mean."""
    views = dihedral_views(images)
    turned = [run(view) for view in views[:4]]
    scores = np.mean(turned, axis=0)
    unsure = ~is_sure(scores, sure)
    if unsure.all():
        return np.mean(turned + [run(view) for view in views[4:]], axis=0)
    if unsure.any():
        mirrored = [run(view) for view in dihedral_views(images[unsure])[4:]]
        scores[unsure] = np.mean([score[unsure] for score in turned] + mirrored, axis=0)
    return scores


def saved_tflite(run_dir: str | os.PathLike) -> Path | None:
    """The run's MODEL_TFLITE when it is at least as new as its best.keras, else None."""
    run_dir = Path(run_dir)
    tflite, keras_file = run_dir / MODEL_TFLITE, run_dir / BEST_MODEL
    if not tflite.is_file():
        return None
    if keras_file.is_file() and keras_file.stat().st_mtime > tflite.stat().st_mtime:
        return None  # retrained since: the flatbuffer is of an older network
    return tflite


def read_for_network(path: str, size: int, stage: str, photo_size: Sequence[int] | None,
                     reference: dict | None) -> tuple[np.ndarray | None, str, str, str]:
    """One file as score_files needs it: (network input or None, note, error, drift)."""
    image, note, error, photo, circle = try_read_image(path, size, stage, photo_size)
    return image, note, error, photo_drift(photo, circle, image, stage, reference)


def _reader_started() -> None:
    """A reading process: one OpenCV thread (the processes are the parallelism), Ctrl-C left to its parent."""
    cv2.setNumThreads(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def reading_processes() -> Executor | None:
    """The reading processes, one per core (loky's reusable executor: fresh interpreters, never forks of this
    process and its TensorFlow threads, that import this module and not the caller's main module), kept for
    the next call; None in a daemonic process (a Dask worker), which may start none."""
    if multiprocessing.current_process().daemon:
        return None
    return get_reusable_executor(max_workers=os.cpu_count() or 1, timeout=READERS_IDLE_S,
                                 initializer=_reader_started)


def start_photo_readers() -> None:
    """Start the reading processes now, so that their start-up overlaps the caller's work."""
    pool = reading_processes()
    if pool is not None:
        pool.submit(int)  # the workers start (and import this module) from here on, in the background


@contextlib.contextmanager
def photo_readers(files: int) -> Iterator[Executor | None]:
    """Where score_files reads its files: in this thread for one file; in threads for fewer than
    READ_IN_PROCESSES_FROM or inside a daemonic process; else in reading_processes.
    The input stage holds Python's lock for much of its millisecond a photo: two threads read 831 test
    photos a second, two processes 1,194; reading and scoring in the processes, 1,310 a second with eight
    views, against 1,190 reading there and scoring here (2026-12-02). A map left by an error or Ctrl-C
    drops its queued files (Executor.map cancels them); the processes are kept."""
    workers = min(os.cpu_count() or 1, files)
    if workers <= 1:
        yield None
        return
    processes = reading_processes() if files >= READ_IN_PROCESSES_FROM else None
    if processes is not None:
        yield processes
        return
    threads = ThreadPoolExecutor(workers)
    try:
        yield threads
    except BaseException:
        threads.shutdown(wait=False, cancel_futures=True)
        raise
    threads.shutdown()


def score_files(predict: Predictor, size: int, paths: Sequence[str], batch_size: int = 64,
                progress: bool = False, stage: str = "photo", photo_size: Sequence[int] | None = None,
                reference: dict | None = None) -> pd.DataFrame:
    """One row per path: defect_probability (NaN if unreadable or no part found), note (what is unusual,
    given the training photos' size), drift (what lies outside the training photos' range, when a drift
    reference is given), error. Photos are read (through the input stage) where photo_readers says; in
    reading processes a LitePredictor also scores them there, on one interpreter thread each (SCORE_CHUNK
    files a task: the cores never wait on each other), else reading overlaps prediction here."""
    read = functools.partial(read_for_network, size=size, stage=stage, photo_size=photo_size,
                             reference=reference)
    with photo_readers(len(paths)) as pool:
        in_processes = pool is not None and not isinstance(pool, ThreadPoolExecutor)
        if in_processes and isinstance(predict, LitePredictor):
            one_thread = dataclasses.replace(predict, threads=1)
            score = functools.partial(read_and_score, read=read, predict=one_thread)
            chunks = [paths[start:start + SCORE_CHUNK] for start in range(0, len(paths), SCORE_CHUNK)]
            rows = _counted(itertools.chain.from_iterable(pool.map(score, chunks)), len(paths), progress)
        else:
            loaded = pool.map(read, paths, chunksize=READ_CHUNK) if pool else map(read, paths)
            rows = _scored_here(predict, _counted(loaded, len(paths), progress), batch_size)
        scores, notes, errors, drifts = zip(*rows) if paths else ((), (), (), ())
    return pd.DataFrame({"path": [str(p) for p in paths], "defect_probability": np.array(scores, np.float32),
                         "note": list(notes), "drift": list(drifts), "error": list(errors)})


Read = tuple[np.ndarray | None, str, str, str]  # read_for_network's: input or None, note, error, drift
Row = tuple[float, str, str, str]  # defect probability (NaN when not scored), note, error, drift


def read_and_score(paths: Sequence[str], read: Callable[[str], Read], predict: Predictor) -> list[Row]:
    """The rows of a few files, read and scored in this process (a reading process's task)."""
    return score_read([read(path) for path in paths], predict)


def score_read(loaded: Sequence[Read], predict: Predictor) -> list[Row]:
    """The rows of photos read, those with a network input scored in one call."""
    images = [image for image, *_ in loaded if image is not None]
    scores = iter(predict(np.stack(images)).tolist() if images else [])
    return [(next(scores) if image is not None else np.nan, note, error, drift)
            for image, note, error, drift in loaded]


def _scored_here(predict: Predictor, loaded: Iterable[Read], batch_size: int) -> Iterator[Row]:
    """The rows of photos as they are read, the network run here on batch_size of them at a time."""
    pending, images = [], 0
    for item in loaded:
        pending.append(item)
        images += item[0] is not None
        if images == batch_size:
            yield from score_read(pending, predict)
            pending, images = [], 0
    yield from score_read(pending, predict)


def _counted(items: Iterable[Item], total: int, progress: bool) -> Iterator[Item]:
    """The items, the report's step (and with progress a tqdm bar) told as they pass."""
    if progress:
        items = tqdm(items, total=total, unit="image", file=sys.stderr)
    return track(items, total, "scoring photos", "image")


def run_predictor(run_dir: str | os.PathLike, views: int = 1) -> tuple[Predictor, int]:
    """The run's saved network (MODEL_TFLITE, written by chapter 3) on LiteRT, and its input size: what
    chapters 4 and 6 score with, as lib.inspect does, without TensorFlow. FileNotFoundError naming the fix."""
    tflite = saved_tflite(run_dir)
    if tflite is None:
        raise FileNotFoundError(f"{Path(run_dir) / MODEL_TFLITE} is missing or older than {BEST_MODEL}: run "
                                "chapter 3 (03_train) on the run, which writes it")
    return tflite_predictor(tflite.read_bytes(), views)


def score_table(predict: Predictor, size: int, table: pd.DataFrame, batch_size: int = 64, stage: str = "photo"
                ) -> pd.DataFrame:
    """The rows whose image could be read (and part found), with predict's defect probability in 'score'."""
    scored = score_files(predict, size, table["path"].tolist(), batch_size, stage=stage)
    readable = scored["defect_probability"].notna().to_numpy()
    return table.assign(score=scored["defect_probability"].to_numpy())[readable].reset_index(drop=True)


def score_held_out(predict: Predictor, size: int, table: pd.DataFrame, stage: str = "photo") -> pd.DataFrame:
    """score_table of the table's validation and test rows: what a threshold is chosen on, and reported."""
    return score_table(predict, size, table[table["split"].isin(["val", "test"])], stage=stage)


def inspection_speed(predict: Predictor, size: int, paths: Sequence[str], stage: str = "photo",
                     latency_files: int = 200, reference: dict | None = None
                     ) -> tuple[pd.DataFrame, float, float]:
    """score_files' rows for all paths (batches of 64, after a warm-up), the images per second that pass took
    from JPEG to probability, and the 95th percentile of milliseconds to answer one file at a time, over the
    first latency_files; with a drift reference, each photo is also checked against it, as lib.inspect
    does. The warm-up pass starts the reading processes, as a line's long-running inspector would have."""
    score_files(predict, size, paths, stage=stage, reference=reference)  # warm-up
    start = time.perf_counter()
    scored = score_files(predict, size, paths, batch_size=64, stage=stage, reference=reference)
    throughput = len(paths) / (time.perf_counter() - start)
    times = []
    for path in paths[:latency_files]:
        start = time.perf_counter()
        score_files(predict, size, [path], stage=stage, reference=reference)
        times.append(1000 * (time.perf_counter() - start))
    return scored, throughput, float(np.percentile(times, 95))


def inspection_costs(predict_one_view: Predictor, size: int, paths: Sequence[str], stage: str = "photo",
                     photos: int = 200) -> dict[str, float]:
    """Where inspection's time goes, in milliseconds on one core per photo over the first photos paths, as a
    reading process spends it: decoding the JPEG, finding the part and cutting it out (part stage) or
    resizing (photo stage), and the network's cost per view (NETWORK_BATCH photos a call, one thread)."""
    paths = list(paths)[:photos]
    if isinstance(predict_one_view, LitePredictor):
        predict_one_view = dataclasses.replace(predict_one_view, threads=1)
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        return _costs(predict_one_view, size, paths, stage)
    finally:
        cv2.setNumThreads(threads)


def _costs(predict_one_view: Predictor, size: int, paths: list[str], stage: str) -> dict[str, float]:
    clock = time.perf_counter
    start = clock()
    decoded = [decode_image(path) for path in paths]
    costs = {"decode ms": clock() - start}
    if stage == "part":
        start = clock()
        circles = [find_part(photo) for photo in decoded]
        costs["find part ms"] = clock() - start
        start = clock()
        images = [centre_part(photo, circle, size) for photo, circle in zip(decoded, circles) if circle]
        costs["cut out ms"] = clock() - start
    else:
        start = clock()
        images = [resize_image(photo, size) for photo in decoded]
        costs["resize ms"] = clock() - start
    if not images:
        raise ValueError(f"no part found in any of the {len(paths)} photos timed"
                         + (f" (the first: {paths[0]})" if paths else ""))
    costs = {name: 1000 * seconds / len(paths) for name, seconds in costs.items()}
    batch = np.stack((images * -(-NETWORK_BATCH // len(images)))[:NETWORK_BATCH])
    predict_one_view(batch)  # warm-up
    start, rounds = clock(), 20
    for _ in range(rounds):
        predict_one_view(batch)
    costs["network ms per view"] = 1000 * (clock() - start) / (rounds * len(batch))
    return costs
