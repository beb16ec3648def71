"""The studio end to end, in a real headless Chromium (Debian's /usr/bin/chromium, driven by
Playwright; no browser is ever downloaded) against a real uvicorn server on 127.0.0.1.

Choose a photo and a painting, set size and steps in the form built from the schema, paint,
watch the preview change, see the result, download it; also through a token. With
``PAINTERLY_SCREENSHOT=1`` a larger run is painted and ``docs/images/studio.png`` written
(1280x800), so CI never rewrites a tracked file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
ROOT = Path(__file__).resolve().parent.parent.parent
SCREENSHOT = ROOT / "docs" / "images" / "studio.png"
TOKEN = "browser-test-token-0123456789"

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)
playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytest.importorskip("fastapi", reason="the web studio needs painterly[web]")

from PIL import Image  # noqa: E402

from painterly import io  # noqa: E402
from painterly.settings import Settings  # noqa: E402
from tests.web.support import live_server, with_palette  # noqa: E402

# What the chart canvas holds: its pixels drawn at all, and those in each curve's colour.
CHART_PIXELS = """() => {
  const canvas = document.getElementById('chart');
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  const near = (i, rgb) => rgb.every((c, k) => Math.abs(data[i + k] - c) < 40);
  const out = {drawn: 0, total: 0, style: 0, content: 0, width: canvas.width};
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] < 128) continue;
    out.drawn++;
    if (near(i, [0x1f, 0x23, 0x28])) out.total++;
    if (near(i, [0xc8, 0x55, 0x3d])) out.style++;
    if (near(i, [0x2f, 0x6f, 0xbf])) out.content++;
  }
  return out;
}"""

# Records every picture the preview shows, so the test can see it change.
WATCH_PREVIEW = """() => {
  window.previews = [];
  new MutationObserver(() => window.previews.push(document.getElementById('preview').src))
    .observe(document.getElementById('preview'), {attributes: true, attributeFilter: ['src']});
}"""


def _copies(folder: Path, side: int) -> dict[str, Path]:
    out = {}
    for name in ("tubingen", "starry_night", "the_scream"):
        im = Image.open(ROOT / "examples" / f"{name}.jpg").convert("RGB")
        im.thumbnail((side, side))
        out[name] = folder / f"{name}.jpg"
        im.save(out[name], quality=92)
    return out


@pytest.fixture
def browser():
    with playwright.sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


def _open(browser: Any, host: str, port: int, token: str | None = None) -> tuple[Any, list[str]]:
    """The studio's page, 1280x800, and the list its script errors are collected in."""
    page = browser.new_page(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"http://{host}:{port}/" + (f"?token={token}" if token else ""))
    return page, errors


def _paint(
    page: Any, photo: Path, painting: Path, settings: dict[str, int], timeout: int = 120_000
) -> None:
    """Choose the inputs, fill the form, press Paint and wait for the result."""
    page.wait_for_selector("body[data-ready='1']")
    page.set_input_files("#content-input", str(photo))
    while page.locator("#style-thumbs button").count():  # painting of an earlier run
        page.locator("#style-thumbs button").first.click()
    page.set_input_files("#style-input", str(painting))
    assert page.locator("#content-thumbs img").count() == 1
    assert page.locator("#style-thumbs img").count() == 1
    for name, value in settings.items():
        page.fill(f"#setting-{name}", str(value))
    page.evaluate(WATCH_PREVIEW)
    before = page.get_attribute("#state", "data-job")
    page.click("#start")
    page.wait_for_function(
        "before => { const s = document.getElementById('state');"
        " return s.dataset.job && s.dataset.job !== before && s.dataset.state === 'done'; }",
        arg=before,
        timeout=timeout,
    )
    page.wait_for_selector("#download:not([hidden])")


@pytest.mark.parametrize("token", [None, TOKEN])
def test_paint_watch_and_download_in_the_browser(browser, tmp_path, token):
    images = _copies(tmp_path, 48)
    with live_server(tmp_path / "data", preview_interval=0, token=token) as (host, port):
        page, errors = _open(browser, host, port, token)
        default = f"{Settings().style_weight:g}"
        assert page.locator("#setting-style_weight").input_value() == default  # from the schema
        _paint(page, images["tubingen"], images["starry_night"], {"size": 48, "steps": 4})

        previews = page.evaluate("window.previews")
        assert len(set(previews)) >= 2, previews  # the picture changed while it was painted
        assert page.locator("#step-text").inner_text() == "Step 4 of 4"
        # the loss curves beside the preview: one point a step, each curve drawn
        assert page.get_attribute("#chart", "data-points") == "4"
        assert page.locator("#chart-empty").is_hidden()
        pixels = page.evaluate(CHART_PIXELS)
        assert pixels["width"] > 200 and pixels["drawn"] > 500, pixels
        assert min(pixels["total"], pixels["style"], pixels["content"]) > 20, pixels
        page.wait_for_selector("#jobs .job .badge[data-state='done']")  # the recent list
        assert page.locator("#jobs .job").count() == 1
        assert page.locator("#jobs .job .pic img").count() == 1  # with its thumbnail

        with page.expect_download() as download:
            page.click("#download")
        saved = tmp_path / "downloaded.png"
        download.value.save_as(saved)
        assert Image.open(saved).size == (48, 36)
        assert io.read_metadata(saved)["content"] == "tubingen.jpg"
        assert errors == []


def test_instant_mode_with_a_trained_style(browser, tmp_path, bundle):
    images = _copies(tmp_path, 96)
    with live_server(tmp_path / "data") as (host, port):
        page, errors = _open(browser, host, port)
        page.wait_for_selector("#mode-section:not([hidden])")
        page.check("[data-testid=mode-instant]")
        assert page.locator("#style-drop").is_hidden()  # no painting to choose
        assert page.locator("#instant-model").input_value() == "starry_night"
        page.set_input_files("#content-input", str(images["tubingen"]))
        page.click("#start")
        page.wait_for_selector("#state[data-state='done']", timeout=60_000)
        assert page.get_attribute("#preview", "src").startswith("blob:")
        with page.expect_download() as download:
            page.click("#download")
        saved = tmp_path / "instant.png"
        download.value.save_as(saved)
        assert Image.open(saved).size == (96, 72)
        assert errors == []


PAINTING_OPTION_HIDDEN = "document.querySelector('#instant-colour option[value=painting]').hidden"


def test_clip_mode_shows_its_limits_progress_and_downloads_the_mp4(browser, tmp_path, bundle):
    pytest.importorskip("av", reason="painterly[video]")
    pytest.importorskip("cv2", reason="painterly[video]")

    from painterly import videoio
    from tests.videoclips import make_clip

    with_palette(bundle)
    clip = make_clip(tmp_path / "pan.mp4")  # 8 frames of 64x48, with sound
    fake = tmp_path / "fake.mp4"
    fake.write_text("not a video")
    with live_server(tmp_path / "data", preview_interval=0) as (host, port):
        page, errors = _open(browser, host, port)
        page.wait_for_selector("body[data-ready='1']")
        page.wait_for_selector("#clip-mode:not([hidden])")
        page.check("[data-testid=mode-instant]")
        page.select_option("#instant-colour", "painting")  # a clip takes it too
        page.check("[data-testid=mode-clip]")
        assert page.locator("#instant-colour").input_value() == "painting"
        assert not page.evaluate(PAINTING_OPTION_HIDDEN)
        assert page.locator("#content-drop").is_hidden() and page.locator("#style-drop").is_hidden()
        limits = page.locator("#clip-limits").inner_text()
        assert "20 s, 600 frames and 64 MB" in limits and "640 px" in limits, limits

        page.set_input_files("#clip-input", str(fake))
        page.click("#start")
        page.wait_for_selector("#form-error:not([hidden])")
        assert "not a video" in page.locator("#form-error").inner_text()

        page.locator("#clip-thumbs button").click()
        page.set_input_files("#clip-input", str(clip))
        page.fill("#instant-size", "32")
        page.evaluate(WATCH_PREVIEW)
        page.click("#start")
        page.wait_for_selector("#state[data-state='done']", timeout=60_000)
        assert page.locator("#step-text").inner_text() == "Frame 8 of 8"
        assert page.locator("#chart-box").is_hidden()  # no loss curves for a clip
        assert page.evaluate("window.previews")  # the latest frame was shown
        assert page.locator("#download").inner_text() == "Download MP4"
        with page.expect_download() as download:
            page.click("#download")
        assert download.value.suggested_filename.endswith(".mp4")
        saved = tmp_path / "downloaded.mp4"
        download.value.save_as(saved)
        info = videoio.Reader(saved).info
        assert (info.width, info.height, info.frames, info.audio) == (32, 24, 8, True)
        assert errors == []


@pytest.mark.skipif(
    os.environ.get("PAINTERLY_SCREENSHOT") != "1", reason="set PAINTERLY_SCREENSHOT=1 to redo it"
)
def test_screenshot(browser, tmp_path):
    images = _copies(tmp_path, 384)
    with live_server(tmp_path / "data", preview_interval=0.5) as (host, port):
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"http://{host}:{port}/")
        slow = 900_000  # a busy machine: the point is the picture, not the time
        _paint(page, images["tubingen"], images["the_scream"], {"size": 160, "steps": 30}, slow)
        _paint(page, images["tubingen"], images["starry_night"], {"size": 320, "steps": 40}, slow)
        page.evaluate("window.scrollTo(0, 0)")  # pressing Paint scrolled the form
        page.wait_for_timeout(500)  # let the last preview and thumbnails load
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT))
