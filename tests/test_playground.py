"""config/playground.yaml, made small: its grid (a sweep over the activation on the Gaussians and the spirals) runs in
the real Snakemake and the real DVC to the same playground pages; in a real browser (headless Chromium) picking
another activation shows that run's decision boundary and loss curves."""

from __future__ import annotations

import sys

import pytest
import yaml

from mlbasics.params import config
from mlbasics.pipeline import declarations as stages
from tests.helpers import (
    ARTIFACTS,
    ROOT,
    VENV_BIN,
    browser_driver,
    copy_project,
    deep_merge,
    git_init,
    load_default_params,
    run,
)

pytestmark = [pytest.mark.engine, pytest.mark.browser]
SMALL = {  # the playground's grid, small: two settings, few events, few epochs
    "datasets": {
        "gaussians": {"options": {"n_samples": 400}, "model": {"epochs": 4}},
        "spirals": {"options": {"n_samples": 400}, "model": {"epochs": 4}},
    },
    "variants": {"play": {"sweep": {"activation": ["relu", "tanh"], "learning_rate": [0.03]}}},
}
DVC = [str(VENV_BIN / "python"), "-m", "mlbasics", "worker", "--", str(VENV_BIN / "dvc"), "repro"]


@pytest.fixture(scope="module")
def projects(tmp_path_factory):
    played = yaml.safe_load((ROOT / "config" / "playground.yaml").read_text())
    played["variants"]["play"]["sweep"] = {}  # replaced whole below (a merge would keep the long lists)
    params = deep_merge(deep_merge(load_default_params(), played), SMALL)
    assert len(config.grid(config.validate_params(params))) == 4
    snakemake = copy_project(tmp_path_factory.mktemp("play-snakemake") / "project", params)
    run([sys.executable, "-m", "snakemake", "--cores", "2"], cwd=snakemake, timeout=600)
    dvc = git_init(copy_project(tmp_path_factory.mktemp("play-dvc") / "project", params))
    run(DVC, cwd=dvc, timeout=600)
    return snakemake, dvc


def test_the_playground_grid_runs_in_both_engines_to_the_same_pages(projects):
    snakemake, dvc = projects
    for dataset in ("gaussians", "spirals"):
        page = stages.PLAYGROUND.format(dataset=dataset)
        assert (snakemake / page).read_bytes() == (dvc / page).read_bytes(), page
        assert "ctl-activation" in (snakemake / page).read_text()


def test_picking_another_activation_shows_that_runs_boundary_and_losses(projects):
    from selenium.webdriver.support.ui import Select

    snakemake, _ = projects
    driver = browser_driver()
    try:
        driver.get((snakemake / stages.PLAYGROUND.format(dataset="spirals")).as_uri())
        shown = driver.execute_script("return document.body.dataset.shown")
        pixels = driver.execute_script("return document.getElementById('boundary').toDataURL()")
        losses = driver.execute_script("return document.getElementById('losses').toDataURL()")
        assert shown == "play-activation_relu-learning_rate_0p03" and "relu" in driver.find_element("id", "shown").text
        Select(driver.find_element("id", "ctl-activation")).select_by_visible_text("tanh")
        assert driver.execute_script("return document.body.dataset.shown") == "play-activation_tanh-learning_rate_0p03"
        assert driver.execute_script("return document.getElementById('boundary').toDataURL()") != pixels
        assert driver.execute_script("return document.getElementById('losses').toDataURL()") != losses
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "playground.png"))
    finally:
        driver.quit()
