"""The report opens in a real browser, offline: no console errors, images decoded, plots drawn."""

from __future__ import annotations

import shutil

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
INTERACTIVE = {"01_explore.html", "03_train.html", "04_evaluate.html"}  # chapters with HoloViews plots


@pytest.mark.slow
def test_report_pages_load_offline_with_figures(smoke_run):
    playwright = pytest.importorskip("playwright.sync_api")
    if not shutil.which("chromium"):
        pytest.skip("Debian's chromium is not installed (`make browser` installs it; CI does)")
    pages = ["index.html", "summary.html"] + sorted(p.name for p in smoke_run.glob("0*.html"))
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        context = browser.new_context(offline=True, viewport={"width": 1200, "height": 900})
        for name in pages:
            page = context.new_page()
            problems: list[str] = []
            page.on("console", lambda m, out=problems: out.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e, out=problems: out.append(str(e)))
            page.on("requestfailed", lambda r, out=problems: out.append(f"request failed: {r.url}"))
            page.goto((smoke_run / name).as_uri(), wait_until="load")
            if name in INTERACTIVE:
                plot = page.frame_locator("iframe[title='interactive plot']").first
                plot.locator("canvas").first.wait_for(state="attached", timeout=15_000)
            broken = page.evaluate(
                "[...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).length")
            images = page.evaluate("document.images.length")
            page.screenshot(path=str(smoke_run / f"screenshot-{name.removesuffix('.html')}.png"),
                            full_page=True)
            assert problems == [], f"{name}: {problems}"
            assert broken == 0, f"{name}: {broken} images did not decode"
            text = page.inner_text("body")
            # chapter 7 before any `make cv` says how to make one instead
            if name not in ("index.html", "summary.html") and "not measured yet" not in text:
                assert images > 0, f"{name} shows no figure"
            if name == "07_new_parts.html":
                assert "make cv" in text, "chapter 7 without a cv run must say how to make one"
            page.close()
        browser.close()
