"""`make report`: run every notebook with papermill into a new run folder and render HTML."""

from __future__ import annotations

import argparse
import datetime as dt
import html
import json
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import nbformat
import papermill
import yaml
from nbconvert import HTMLExporter
from papermill.exceptions import PapermillExecutionError

from lib.config import NOTEBOOKS_DIR, OUTPUTS_DIR
from lib.data import SKIPPED_IMAGES, DataError, find_data_dir, scan_dataset, unreadable_images
from lib.params import ParamsError, chapter_notebooks, declared_parameters, for_notebook, resolve_params
from lib.progress import EVERY, native_stderr_to, step_bars
from lib.runs import (
    data_fingerprint,
    git_commit,
    mark_stale_runs,
    new_run_dir,
    package_versions,
    point_latest,
    write_manifest,
)
from lib.splits import run_split_table
from lib.summary import (
    SCREENSHOTS,
    SUMMARY_HTML,
    SUMMARY_PDF,
    headline_html,
    page,
    pdf_first_page_png,
    print_pdf,
    screenshot,
    write_summary,
)
from lib.words import plural

TEMPLATES = Path(__file__).resolve().parent / "templates"
KERNEL = "casting-inspection"
KERNEL_LOG = "kernels.log"  # the kernels' stderr: library log lines, kept out of the terminal
ERASE_LINE = "\r\033[K"
PROGRESS_FILE = ".progress"  # the running chapters' current steps (lib/progress.py), removed after them
# Chapters that read only what chapters before them wrote, not each other's, run side by side: a kernel's
# start, imports, figures and HTML keep one core busy, so two at once fill both. Chapter 6 runs alone: it
# keeps both cores busy scoring, and beside another chapter it took 131 s instead of 83 (2026-12-01).
SIDE_BY_SIDE = (("01_explore", "02_augmentation_gallery"), ("05_explain_errors", "07_new_parts"))


def render_html(notebook: Path, target: Path) -> None:
    """Render an executed notebook to self-contained HTML, code and stderr logs hidden."""
    exporter = HTMLExporter(template_name="offline", extra_template_basedirs=[str(TEMPLATES)],
                            exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True, embed_images=True)
    executed = nbformat.read(notebook, as_version=4)
    for cell in executed.cells:  # library log lines on stderr are for analysts, not the report
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs
                            if not (o.output_type == "stream" and o.name == "stderr")]
    body, _ = exporter.from_notebook_node(executed)
    target.write_text(body, encoding="utf-8")


def write_index(run_dir: Path, manifest: dict) -> None:
    """Write index.html: management's headline and traffic lights first, then the chapters, then the run's
    details for analysts (status, commit, data, parameters, package versions)."""
    rows = "\n".join(
        f'<li><a href="{html.escape(c["html"])}">{html.escape(c["title"])}</a> '
        f'<small>({c["status"]}, {c["seconds"]:.0f} s)</small></li>'
        for c in manifest["chapters"]
    )
    params = html.escape(yaml.safe_dump(manifest["params"], sort_keys=False))
    packages = "".join(f"<li>{html.escape(k)} {html.escape(v)}</li>" for k, v in manifest["packages"].items())
    note = f" ({html.escape(manifest['note'])})" if manifest.get("note") else ""
    skipped = manifest.get("skipped_images") or []
    warning = "" if not skipped else (
        '<div style="background:#fff3cd;padding:.5em 1em">'
        f'<b>{plural(len(skipped), "unreadable image")} left out</b> of every chapter ({SKIPPED_IMAGES}):<ul>'
        + "".join(f"<li>{html.escape(s['reason'])}</li>" for s in skipped[:50])
        + ("<li>…</li>" if len(skipped) > 50 else "") + "</ul></div>")
    unfinished = "" if manifest["status"] == "complete" else (
        f'<p style="background:#fff3cd;padding:.5em 1em">This run is <b>{manifest["status"]}</b>{note}: '
        "what follows holds only what its chapters wrote so far.</p>")
    extracts = manifest.get("summary", {})
    mail = " ".join(f'<a href="{name}">{label}</a>' for name, label in
                    ((SUMMARY_HTML, "summary to mail (HTML)"), (SUMMARY_PDF, "the same as PDF"))
                    if (run_dir / name).is_file())
    mail += "".join(f"<br><small>{html.escape(p)}</small>" for p in extracts.get("problems", []))
    body = f"""<h1>Casting inspection report</h1>
{unfinished}{warning}{headline_html(run_dir)}<p>{mail}</p>
<h2>Chapters</h2><ol>{rows}</ol>
<h2>For analysts</h2>
<p>Run <b>{html.escape(run_dir.name)}</b>, status <b>{manifest["status"]}</b>{note},
parameters from <code>{html.escape(manifest["params_file"])}</code>,
code at commit <code>{html.escape(manifest["git_commit"])}</code>.</p>
<h3>Data</h3><p>{manifest["data"]["files"]} files under <code>{html.escape(manifest["data"]["root"])}</code>
(list hash {manifest["data"]["sha256"][:12]}).</p>
<h3>Parameters</h3><pre>{params}</pre><h3>Package versions</h3><ul>{packages}</ul>"""
    title = f"Casting inspection report {run_dir.name}"
    (run_dir / "index.html").write_text(page(title, body), encoding="utf-8")


def write_extracts(run_dir: Path, manifest: dict) -> None:
    """summary.html, summary.pdf and the screenshots of index.html and the PDF's first page; what could not
    be made is said in the manifest and on the terminal, never passed off as made."""
    problems = []
    try:
        write_summary(run_dir)
        print_pdf(run_dir / SUMMARY_HTML, run_dir / SUMMARY_PDF)
        pdf_first_page_png(run_dir / SUMMARY_PDF, run_dir / SCREENSHOTS[1])
    except (ValueError, RuntimeError, OSError, subprocess.SubprocessError) as err:
        problems.append(f"summary: {err}")
    write_index(run_dir, manifest)  # the page the screenshot shows, with the links to the summary
    try:
        screenshot(run_dir / "index.html", run_dir / SCREENSHOTS[0])
    except (RuntimeError, OSError, subprocess.SubprocessError) as err:
        problems.append(f"screenshot of index.html: {err}")
    for problem in problems:
        print(f"warning: {problem}", flush=True)
    manifest["summary"] = {"html": (run_dir / SUMMARY_HTML).is_file(),
                           "pdf": (run_dir / SUMMARY_PDF).is_file(), "problems": problems}


def chapter_title(notebook: Path) -> str:
    """The notebook's first markdown heading, else its file name."""
    cells = json.loads(notebook.read_text())["cells"]
    for cell in cells:
        source = "".join(cell["source"]) if cell["cell_type"] == "markdown" else ""
        if source.startswith("#"):
            return source.splitlines()[0].lstrip("# ").strip()
    return notebook.stem


def run_report(params_file: Path, notebooks: list[Path], outputs: Path = OUTPUTS_DIR,
               kernel: str = KERNEL) -> Path:
    """Validate params, then execute and render each notebook into a new run folder; return it."""
    params = resolve_params(params_file, notebooks_dir=notebooks[0].parent)
    declared = declared_parameters(notebooks)
    data_root = find_data_dir(params.get("data_dir") or None)
    for stale, earlier in mark_stale_runs(outputs):
        write_index(stale, earlier)
        print(f"note: {stale} was left unfinished ({earlier['note']}); marked killed", flush=True)
    run_dir = new_run_dir(outputs, params_file.stem)
    (run_dir / "notebooks").mkdir()
    (run_dir / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    manifest = {
        "status": "running", "params_file": str(params_file), "params": params,
        "git_commit": git_commit(), "packages": package_versions(),
        "data": data_fingerprint(data_root), "started": _now(),
        "chapters": [],
    }
    print(f"run folder: {run_dir}", flush=True)
    skipped = unreadable_images(scan_dataset(data_root))
    skipped.to_csv(run_dir / SKIPPED_IMAGES, index=False)
    manifest["skipped_images"] = skipped.to_dict("records")
    if len(skipped):
        print(f"warning: {plural(len(skipped), 'unreadable image')} in the data set, left out of every "
              "chapter "
              f"(listed in {run_dir / SKIPPED_IMAGES}), e.g. {skipped['reason'][0]}", flush=True)
    record(run_dir, manifest)
    if len(skipped) and params["unreadable_images"] == "fail":
        record(run_dir, manifest, status="failed", note="unreadable images, and unreadable_images: fail")
        raise ReportError(f"{plural(len(skipped), 'unreadable image')} and "
                          f"unreadable_images: fail in {params_file}; see {run_dir / SKIPPED_IMAGES}, or set "
                          "unreadable_images: skip")
    # `kill` stops the run as Ctrl-C does; a second one, while the first is being written down, waits
    stop = _interrupt_once()
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with step_bars(run_dir / PROGRESS_FILE, position=0), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the unreadable images: said above, once
            run_split_table(run_dir, data_root, params["val_fraction"], params["seed"], params["subset"],
                            params["split"], params["test_fraction"], params["near_twin_cutoff"])
        with native_stderr_to(run_dir / KERNEL_LOG):  # the kernels' transport warning, TF's C++ lines
            failure = _run_chapters(notebooks, run_dir, params, declared, data_root, kernel, manifest)
    except KeyboardInterrupt:
        record(run_dir, manifest, status="interrupted", finished=_now())
        raise ReportInterrupted(f"interrupted; what ran so far is in {run_dir}, marked interrupted") from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not failure:
        print("summary.html, summary.pdf and screenshots", flush=True)
        manifest.update(status="complete", finished=_now())  # what the index's screenshot should show
        write_extracts(run_dir, manifest)
    record(run_dir, manifest, status="failed" if failure else "complete", finished=_now())
    if failure:
        raise ReportError(f"{failure}\nwhat ran so far is in {run_dir}")
    point_latest(outputs, run_dir)
    return run_dir


def record(run_dir: Path, manifest: dict, **changes) -> None:
    """Apply changes to the run's manifest, then write it and the index page that shows it."""
    manifest.update(changes)
    write_manifest(run_dir, manifest)
    write_index(run_dir, manifest)


def _now() -> str:
    return dt.datetime.now().isoformat(timespec="seconds")


def _interrupt_once():
    """A signal handler that raises KeyboardInterrupt the first time only (chapters running side by side
    may be stopped at once, and the interrupted run must still be written down)."""
    raised = threading.Event()

    def stop(signum, frame) -> None:
        if not raised.is_set():
            raised.set()
            raise KeyboardInterrupt

    return stop


def chapter_waves(notebooks: list[Path]) -> list[list[Path]]:
    """The chapters in turn, each SIDE_BY_SIDE group as one wave where its first chapter comes (the others
    brought forward to run beside it)."""
    waves: list[list[Path]] = []
    placed: set[Path] = set()
    for notebook in notebooks:
        if notebook in placed:
            continue
        group = next((g for g in SIDE_BY_SIDE if notebook.stem in g), (notebook.stem,))
        wave = [n for n in notebooks if n.stem in group and n not in placed]
        placed.update(wave)
        waves.append(wave)
    return waves


def _run_chapters(notebooks: list[Path], run_dir: Path, params: dict, declared: dict, data_root: Path,
                  kernel: str, manifest: dict) -> str | None:
    """Execute and render each chapter, a wave at a time (chapter_waves), the manifest updated as each
    ends; the first failure, if any (the rest of its wave still ends)."""
    numbers = {notebook: number for number, notebook in enumerate(notebooks, 1)}
    failure = None
    for wave in chapter_waves(notebooks):
        with step_bars(run_dir / PROGRESS_FILE, position=len(wave)):  # under the chapters' cell bars
            ended = _run_wave(wave, numbers, run_dir, params, declared, data_root, kernel, manifest)
        failure = next((failed for _, failed in ended if failed), None)
        if failure:
            break
    return failure


def _run_wave(wave: list[Path], numbers: dict[Path, int], run_dir: Path, params: dict, declared: dict,
              data_root: Path, kernel: str, manifest: dict) -> list[tuple[dict, str | None]]:
    """The wave's chapters at once: the first in this thread (Ctrl-C and kill reach it as before), the
    others in threads; each recorded as it ends, the unfinished ones marked interrupted on Ctrl-C or kill."""
    alone = len(wave) == 1
    results: dict[Path, tuple[dict, str | None] | BaseException] = {}
    pending = list(wave)

    def ended(chapter: dict, failure: str | None) -> None:
        manifest["chapters"] = sorted([*manifest["chapters"], chapter], key=lambda c: c["notebook"])
        record(run_dir, manifest)
        print(f"{ERASE_LINE if sys.stdout.isatty() else ''}[{chapter['number']}/{len(numbers)}] "
              f"{chapter['notebook']} {chapter['status']} in {chapter['seconds']:.0f} s", flush=True)

    def run(notebook: Path) -> tuple[dict, str | None]:
        position = None if alone else wave.index(notebook)
        return _run_chapter(notebook, numbers[notebook], len(numbers), position, run_dir, params, declared,
                            data_root, kernel)

    threads = {notebook: threading.Thread(target=_keep, args=(results, notebook, run, notebook), daemon=True)
               for notebook in wave[1:]}  # daemon: a kill ends the process, and its kernels with it
    started = time.perf_counter()
    try:
        for thread in threads.values():
            thread.start()
        results[wave[0]] = run(wave[0])
        while pending:
            for notebook in list(pending):
                if notebook in threads:
                    threads[notebook].join(EVERY)
                    if threads[notebook].is_alive():
                        continue
                outcome = results[notebook]
                if isinstance(outcome, BaseException):
                    raise outcome
                pending.remove(notebook)
                ended(*outcome)
    except KeyboardInterrupt:
        for notebook in pending:
            ended({**_chapter_entry(notebook, numbers[notebook]), "status": "interrupted",
                   "seconds": time.perf_counter() - started}, None)
        raise
    return [results[notebook] for notebook in wave]


def _keep(results: dict, key, function, *args) -> None:
    """results[key] = function(*args), or the exception it raised (a thread's outcome, for the main one)."""
    try:
        results[key] = function(*args)
    except BaseException as err:  # noqa: BLE001  (KeyboardInterrupt too: the main thread re-raises it)
        results[key] = err


def _chapter_entry(notebook: Path, number: int) -> dict:
    return {"notebook": notebook.name, "title": chapter_title(notebook), "number": number,
            "html": notebook.with_suffix(".html").name, "status": "ok", "seconds": 0.0}


def _run_chapter(notebook: Path, number: int, total: int, position: int | None, run_dir: Path, params: dict,
                 declared: dict, data_root: Path, kernel: str) -> tuple[dict, str | None]:
    """Execute one chapter with papermill and render its HTML: its manifest entry and its failure, if any.
    position: the line of its cell bar when it runs beside others (None: alone)."""
    executed = run_dir / "notebooks" / notebook.name
    chapter = _chapter_entry(notebook, number)
    mine = for_notebook({**params, "run_dir": str(run_dir), "data_dir": str(data_root)}, declared,
                        notebook.name)
    print(f"[{number}/{total}] {notebook.name}", flush=True)
    bar = True if position is None else {"desc": notebook.stem, "position": position, "leave": False}
    start, failure = time.perf_counter(), None
    try:
        papermill.execute_notebook(str(notebook), str(executed), parameters=mine, kernel_name=kernel,
                                   cwd=str(run_dir), progress_bar=bar)
    except PapermillExecutionError as err:
        chapter["status"] = "failed"
        first_line = (err.source or "").strip().splitlines()[:1] or [""]
        failure = (f"{notebook.name} failed in cell {err.cell_index} of "
                   f"{executed} (code: {first_line[0][:80]!r}): {err.ename}: {err.evalue} (the kernels' "
                   f"own log: {run_dir / KERNEL_LOG})")
    chapter["seconds"] = time.perf_counter() - start
    if executed.exists():
        render_html(executed, run_dir / chapter["html"])
    return chapter, failure


class ReportError(Exception):
    """A notebook failed; the message names the notebook, the cell and the run folder."""


class ReportInterrupted(Exception):
    """Ctrl-C or `kill` stopped the run; the message names the run folder, marked interrupted."""


def main(argv: list[str] | None = None) -> int:
    """Command line: python -m lib.report PARAMS_FILE [--notebooks DIR] [--outputs DIR]."""
    parser = argparse.ArgumentParser(prog="python -m lib.report", description=__doc__)
    parser.add_argument("params", type=Path, help="a params/*.yaml file")
    parser.add_argument("--notebooks", type=Path, default=NOTEBOOKS_DIR)
    parser.add_argument("--outputs", type=Path, default=OUTPUTS_DIR)
    parser.add_argument("--kernel", default=KERNEL)
    args = parser.parse_args(argv)
    notebooks = chapter_notebooks(args.notebooks)
    if not notebooks:
        print(f"error: no numbered notebooks in {args.notebooks}", file=sys.stderr)
        return 2
    try:
        run_dir = run_report(args.params, notebooks, args.outputs, args.kernel)
    except (ParamsError, DataError, ReportError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except ReportInterrupted as err:
        print(f"\n{err}", file=sys.stderr)
        return 130
    print(f"report: {run_dir / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
