"""The report renders in a real browser: headless Chromium draws the HTML (with its inline
matplotlib SVGs) to a PNG, which must be a picture with the plots' colours in it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from controller.plugin.report import render_report
from tests.unit.plugin import samples

pytestmark = pytest.mark.integration

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
SHOTS_ENV = "REPORT_SCREENSHOT_DIR"  # keep the PNG there, to look at


def browser() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip(f"no headless browser ({', '.join(BROWSERS)}) on PATH: .ci/system-deps "
                "installs Debian's chromium")


def screenshot(html: Path, png: Path, profile: Path) -> None:
    subprocess.run(
        [browser(), "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={profile}", f"--screenshot={png}",
         "--window-size=1200,4200", html.as_uri()],
        check=True, capture_output=True, timeout=300)  # a guard against a hung browser only


def close(colour: tuple[int, ...], target: tuple[int, int, int], within: int = 40) -> bool:
    return all(abs(a - b) <= within for a, b in zip(colour[:3], target, strict=True))


def test_the_report_renders_to_a_picture_with_its_plots(tmp_path: Path) -> None:
    html = tmp_path / "report.html"
    html.write_text(render_report(samples.with_history(), samples.EVENTS, samples.NOW))
    png = tmp_path / "report.png"
    screenshot(html, png, tmp_path / "profile")
    assert png.stat().st_size > 50_000  # a page of text and ten plots, not an empty frame
    with Image.open(png) as image:
        assert image.size == (1200, 4200)
        rgb = image.convert("RGB")
        small = rgb.resize((300, 1050))
        raw = small.tobytes()
    pixels = [tuple(raw[i:i + 3]) for i in range(0, len(raw), 3)]
    white = sum(1 for p in pixels if p == (255, 255, 255))
    assert white < 0.97 * len(pixels)  # not blank
    assert len(set(pixels)) > 100  # text, lines, bands: many shades
    assert any(close(p, (9, 105, 218)) for p in pixels)  # the estimate's blue (#0969da)
    assert any(close(p, (207, 34, 46)) for p in pixels)  # tolerance, verdict red (#cf222e)
    keep = os.environ.get(SHOTS_ENV)
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(png, Path(keep) / "report.png")
        shutil.copy(html, Path(keep) / "report.html")
