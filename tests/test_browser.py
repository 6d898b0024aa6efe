"""A real browser (Debian's headless Chromium, driven by Selenium through Debian's chromedriver) opens
reports/index.html of the tiny Snakemake run, follows every link, and checks that every image loads and no
link is broken. Screenshots of every page land in artifacts/browser/ (a CI artifact).

.ci/run installs chromium and chromium-driver. Elsewhere the test skips when they are missing; under CI
(CI=true) a missing browser is a failure, so the check cannot silently vanish."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

import pytest

from mlbasics.pipeline import declarations as stages
from tests.helpers import ARTIFACTS, browser_driver

pytestmark = [pytest.mark.engine, pytest.mark.browser]


@pytest.fixture(scope="module")
def browser():
    driver = browser_driver()
    yield driver
    driver.quit()


PAGE_STATE = """
return {
  images: Array.from(document.images).map(i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0]),
  links: Array.from(document.links).map(a => a.href),
  ids: Array.from(document.querySelectorAll('[id]')).map(e => e.id),
  height: document.documentElement.scrollHeight,
  text: document.body.innerText,
};
"""


def _local_path(url: str) -> Path:
    parsed = urlparse(url)
    assert parsed.scheme == "file", f"link leaves the report folder: {url}"
    return Path(unquote(parsed.path))


def crawl(driver, start: Path, shots: Path) -> dict[Path, dict]:
    """Every page reachable from `start` by links, each with its images, links and element ids."""
    pages: dict[Path, dict] = {}
    queue = [start.resolve()]
    while queue:
        page = queue.pop(0)
        if page in pages:
            continue
        driver.get(page.as_uri())
        state = driver.execute_script(PAGE_STATE)
        pages[page] = state
        driver.set_window_size(1400, min(int(state["height"]) + 120, 12000))
        name = page.relative_to(start.parent).as_posix().replace("/", "_").replace(".html", ".png")
        driver.save_screenshot(str(shots / name))
        for href in state["links"]:
            target = _local_path(urldefrag(href).url)
            if target.suffix == ".html" and target.exists():
                queue.append(target.resolve())
    return pages


def test_every_link_and_image_of_the_html_report_works_in_a_real_browser(browser, snakemake_run):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    index = snakemake_run / stages.INDEX
    pages = crawl(browser, index, ARTIFACTS)
    datasets = ["gaussians", "iris", "events"]
    assert {p.relative_to(snakemake_run).as_posix() for p in pages} == {
        stages.INDEX,
        *(stages.DATASET_PAGE.format(dataset=d) for d in datasets),
        *(stages.PLAYGROUND.format(dataset=d) for d in datasets),  # the boundary where there are two inputs
    }
    broken, unloaded, images = [], [], 0
    for page, state in pages.items():
        for src, loaded in state["images"]:
            images += 1
            if not loaded:
                unloaded.append(f"{page.name} in {page.parent.name}: {src}")
        for href in state["links"]:
            url, fragment = urldefrag(href)
            target = _local_path(url)
            if not target.exists():
                broken.append(f"{page}: {href}")
            elif fragment and fragment not in pages.get(target.resolve(), {}).get("ids", []):
                broken.append(f"{page}: {href} (no element with id {fragment!r})")
    assert not unloaded, f"images that did not load: {unloaded}"
    assert not broken, f"broken links: {broken}"
    # index: the activations figure; each dataset page: preview, comparison, the input variables as read and
    # scaled, their correlations, and per variant curves, confusion matrix, diagnostics and the response train
    # vs test (2 variants here)
    assert images == 1 + len(datasets) * (5 + 2 * 4) + 1  # and the Gaussians' decision boundaries
    # the TMVA-style report of the ROOT ntuples, as the browser shows it
    events = pages[(snakemake_run / stages.DATASET_PAGE.format(dataset="events")).resolve()]
    for text in ("KS p, signal", "Signal efficiency at background efficiency: test (train)", "jet_pt[0]", "separation"):
        assert text in events["text"], text
    assert len(list(ARTIFACTS.glob("*.png"))) >= len(pages)
