"""docs/screenshot-hep.png, docs/screenshot-gaussians.png, docs/screenshot-playground.png: the pages as a browser
shows them, taken from real runs - the default run's hep and gaussians pages, and the spirals playground of
config/playground.yaml with ReLU, learning rate 0.03 and two hidden layers picked. Needs Chromium and chromedriver
(apt-get install chromium chromium-driver).

    .venv/bin/snakemake --cores 2                                        # the default run, in this project
    .venv/bin/snakemake --cores 2 --configfile config/playground.yaml    # the playground, in another copy
    .venv/bin/python scripts/screenshots.py . ../playground-copy
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"
PICKED = {"activation": "relu", "learning_rate": "0.03", "hidden_layers": "16, 16"}


def driver(width: int, height: int):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or shutil.which("chromium-browser")
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--window-size={width},{height}",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(executable_path=shutil.which("chromedriver")))


def main(project: Path, playground: Path) -> None:
    from selenium.webdriver.support.ui import Select

    browser = driver(1300, 1500)
    try:
        for dataset in ("hep", "gaussians"):
            browser.get((project / "reports" / dataset / "index.html").resolve().as_uri())
            browser.save_screenshot(str(DOCS / f"screenshot-{dataset}.png"))
        browser.set_window_size(1300, 900)
        browser.get((playground / "reports" / "spirals" / "playground.html").resolve().as_uri())
        for key, value in PICKED.items():
            Select(browser.find_element("id", f"ctl-{key}")).select_by_visible_text(value)
        browser.save_screenshot(str(DOCS / "screenshot-playground.png"))
    finally:
        browser.quit()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
