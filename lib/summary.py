"""What plant management reads first: the headline, the traffic lights, every mistake as a picture; HTML, PDF.

Everything here is read from the run folder, as the chapters wrote it (test_predictions.csv and
operating_point.json by chapter 4, robustness.csv by chapter 6, the thumbnails by chapter 5, never_seen.json
by chapter 7); a part not written yet is said to be missing, never guessed. The PDF and the screenshots are
drawn by Chromium (the one the browser test uses; `make browser` installs it).
"""

from __future__ import annotations

import base64
import html
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import pandas as pd

from lib.cv_results import NEVER_SEEN
from lib.decision import OPERATING_POINT, TEST_PREDICTIONS
from lib.headline import (
    cross_validation_sentence,
    headline_sentences,
    lights_rule,
    never_seen_headline,
    traffic_light_html,
    traffic_lights,
)
from lib.plots import SUMMARY_PARTS
from lib.runs import write_whole

SUMMARY_HTML, SUMMARY_PDF = "summary.html", "summary.pdf"
SCREENSHOTS = ("screenshot-index.png", "screenshot-summary-page1.png")
MAX_SUMMARY_BYTES = 2_000_000
STYLE = """body{font-family:sans-serif;max-width:56em;margin:2em auto;line-height:1.5;padding:0 1em}
pre{background:#f4f4f4;padding:1em;white-space:pre-wrap}table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
.parts{display:flex;flex-wrap:wrap;gap:.6em}.parts figure{margin:0;width:160px;font-size:.8em}
.parts img{width:160px;height:160px}@media print{h2{break-after:avoid}figure,tr{break-inside:avoid}}"""
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
                  "--disable-background-networking", "--disable-component-update"]


def headline_html(run_dir: Path) -> str:
    """The management headline and the traffic lights as HTML, from what the chapters wrote so far."""
    run_dir = Path(run_dir)
    predictions, point_file, changes = (run_dir / TEST_PREDICTIONS, run_dir / OPERATING_POINT,
                                        run_dir / "robustness.csv")
    if predictions.is_file() and point_file.is_file():
        point = json.loads(point_file.read_text())
        h = never_seen_headline(pd.read_csv(predictions), point)
        table = ("<table><tr><th>parts never seen</th><th>defects shipped</th><th>good parts scrapped</th>"
                 "<th>sent to a person</th></tr>"
                 f"<tr><td>{h['parts']:,}</td><td>{h['shipped']:,} of {h['defects']:,}</td>"
                 f"<td>{h['scrapped']:,} of {h['good']:,}</td><td>{h['review']:,}</td></tr></table>")
        head = (f"<p class='headline'><b>{html.escape(headline_sentences(h))}</b></p>{table}"
                f"<p>A part is called defective at a score of {point['threshold']:.4f} or more: "
                f"{html.escape(point['why'])}; chosen on the validation split before any test part was "
                "scored.</p>")
    else:
        head = "<p><b>The verdicts are not written yet</b> (chapter 4 writes them).</p>"
    if (run_dir / NEVER_SEEN).is_file():
        head += f"<p><b>{cross_validation_sentence(json.loads((run_dir / NEVER_SEEN).read_text()))}</b></p>"
    else:
        head += ("<p>Parts never seen are not measured by cross-validation yet for this recipe "
                 "(<code>make cv</code>; chapter 7 shows the figure).</p>")
    if changes.is_file():
        lights = (f"{traffic_light_html(traffic_lights(pd.read_csv(changes)))}"
                  f"<p><small>{html.escape(lights_rule())} Chapter 6 has the details.</small></p>")
    else:
        lights = "<p>Not measured yet (chapter 6 measures it).</p>"
    return (f"<h2>What would ship, what would be scrapped</h2>{head}"
            f"<h2>When to trust the verdicts: shop-floor changes</h2>{lights}")


def parts_html(run_dir: Path) -> str:
    """Every mistake and review part of the test split as an inline JPEG thumbnail with its heatmap."""
    index = Path(run_dir) / f"{SUMMARY_PARTS}.csv"
    if not index.is_file():
        return "<p>Not drawn yet (chapter 5 draws them).</p>"
    parts = pd.read_csv(index)
    sections = []
    for kind, heading, none in (
            ("mistake", "Every mistake on the test split", "No test part was misjudged."),
            ("review", "Parts sent to a person", "No test part fell in the review band.")):
        shown = parts[parts["kind"] == kind]
        figures = "".join(
            f"<figure><img alt='{html.escape(Path(p['path']).name)}' src='data:image/jpeg;base64,"
            f"{base64.b64encode((Path(run_dir) / p['file']).read_bytes()).decode()}'>"
            f"<figcaption>{html.escape(Path(p['path']).name)}<br>{html.escape(p['title'])}</figcaption></figure>"
            for _, p in shown.iterrows())
        sections.append(f"<h2>{heading} ({len(shown)})</h2>"
                        + (f"<div class='parts'>{figures}</div>" if len(shown) else f"<p>{none}</p>"))
    return ("<p>Red areas of each heatmap drove the network's score most; the title gives the true class, "
            "the verdict at the threshold and how sure the network was.</p>" + "".join(sections))


def page(title: str, body: str) -> str:
    """A self-contained HTML page with the report's style."""
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>{body}</body></html>")


def write_summary(run_dir: Path) -> Path:
    """Write summary.html (the headline, the lights, every mistake and review part); ValueError if it
    would pass MAX_SUMMARY_BYTES (too heavy to mail)."""
    run_dir = Path(run_dir)
    body = (f"<h1>Casting inspection: summary of run {html.escape(run_dir.name)}</h1>{headline_html(run_dir)}"
            f"{parts_html(run_dir)}<p><small>The full report: index.html in the run folder.</small></p>")
    text = page(f"Casting inspection summary {run_dir.name}", body)
    if len(text.encode()) > MAX_SUMMARY_BYTES:
        raise ValueError(f"{run_dir / SUMMARY_HTML} would be {len(text.encode()) / 1e6:.1f} MB, over "
                         f"{MAX_SUMMARY_BYTES / 1e6:.0f} MB: too many mistakes to show as pictures")
    write_whole(run_dir / SUMMARY_HTML, text)
    return run_dir / SUMMARY_HTML


def chromium() -> str | None:
    """The Chromium to draw PDFs and screenshots with, or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def print_pdf(source: Path, target: Path) -> None:
    """Print an HTML file to PDF with headless Chromium (no header or footer); RuntimeError saying why not."""
    _run_chromium([f"--print-to-pdf={target}", "--no-pdf-header-footer", source.resolve().as_uri()], target)


def screenshot(source: Path, target: Path, width: int = 1200, height: int = 1500) -> None:
    """A PNG of an HTML page's top as Chromium draws it; RuntimeError saying why not."""
    _run_chromium([f"--screenshot={target}", f"--window-size={width},{height}", "--hide-scrollbars",
                   source.resolve().as_uri()], target)


def pdf_first_page_png(pdf: Path, target: Path) -> None:
    """The PDF's first page as a PNG, with poppler's pdftoppm; RuntimeError saying why not."""
    if not shutil.which("pdftoppm"):
        raise RuntimeError("pdftoppm is not installed (Debian's poppler-utils; `make browser` installs it)")
    stem = target.with_suffix("")
    done = subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile", str(pdf),
                           str(stem)], capture_output=True, text=True, timeout=120)
    if done.returncode or not target.is_file():
        raise RuntimeError(f"pdftoppm could not draw {pdf}: {done.stderr.strip()[:200]}")


def _run_chromium(args: list[str], target: Path) -> None:
    browser = chromium()
    if browser is None:
        raise RuntimeError("Chromium is not installed (`make browser` installs it)")
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=180)
    if done.returncode or not target.is_file() or not target.stat().st_size:
        raise RuntimeError(f"Chromium could not write {target} (exit {done.returncode}): "
                           f"{done.stderr.strip().splitlines()[-1:] or ''}")
