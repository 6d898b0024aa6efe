"""The MLflow UI as a user sees it: a real `mlflow server` on the tiny Snakemake run's store, opened in headless
Chromium. The experiment's runs page shows the run tree (the pipeline's parent run, its children under it), each
child named <dataset>/<variant> with its dataset and a real duration (training start to evaluation end); the
compare view lists two runs' params side by side, as JSON text. Screenshots land in artifacts/browser/."""

from __future__ import annotations

import json
import re
import time
import urllib.parse

import pytest
from mlflow import MlflowClient

from mlbasics.params import config
from mlbasics.tracking import runs as tracking
from tests.helpers import ARTIFACTS, browser_driver
from tests.test_tracking_server import Server

pytestmark = [pytest.mark.engine, pytest.mark.browser]


@pytest.fixture(scope="module")
def ui(snakemake_run, tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("mlflow-ui"), store=f"sqlite:///{snakemake_run / 'mlflow.db'}")
    server.start()
    driver = browser_driver()
    try:
        yield server, driver
    finally:
        driver.quit()
        server.kill()


def wait_for(driver, text: str, timeout: float = 60) -> str:
    """The page's text once it shows `text` (the UI renders after its API calls return)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page = driver.execute_script("return document.body.innerText")
        if text in page:
            return page
        time.sleep(0.5)
    raise AssertionError(f"the page never showed {text!r}:\n{page[:3000]}")


def children_of(snakemake_run):
    params = config.load_params(snakemake_run / "params.yaml")
    client = MlflowClient(f"sqlite:///{snakemake_run / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(params["tracking"]["experiment"])
    runs = client.search_runs([experiment.experiment_id], filter_string="tags.`mlbasics.role` = 'variant'")
    return params, experiment, runs


def test_the_runs_page_shows_the_run_tree_with_dataset_names_datasets_and_durations(ui, snakemake_run):
    from selenium.webdriver.common.by import By

    server, driver = ui
    params, experiment, runs = children_of(snakemake_run)
    assert experiment.tags[tracking.EXPERIMENT_KIND] == "custom_model_development"
    driver.set_window_size(1800, 2400)
    driver.get(tracking.runs_page(server.url, experiment.experiment_id))
    wait_for(driver, "snakemake ")  # the pipeline's parent run: one per invocation
    driver.find_element(By.CSS_SELECTOR, "[role=gridcell] button").click()  # expand the parent
    names = [f"{d}/{v}" for d, v in config.grid(params)]
    page = wait_for(driver, names[-1])
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / "mlflow_runs.png"))
    assert all(name in page for name in names), names
    assert all(r.data.tags["data_sha256"][:8] in page for r in runs), "the Dataset column names each run's data"
    durations = re.findall(r"(?m)^\s*(-?\d+(?:\.\d+)?)(ms|s|min|h)\s*$", page)
    assert len(durations) >= len(runs) + 1 and not any(unit == "ms" for _, unit in durations), durations


def test_the_compare_view_lists_two_runs_params_side_by_side(ui, snakemake_run):
    server, driver = ui
    params, experiment, runs = children_of(snakemake_run)
    pair = [r for r in runs if r.data.tags["dataset"] == "iris"]
    pair = sorted(pair, key=lambda r: r.data.tags["variant"])  # baseline, dropout
    ids = json.dumps([r.info.run_id for r in pair])
    driver.set_window_size(1800, 3000)
    driver.get("about:blank")  # a fresh page load, not a change of the single-page app's route
    driver.get(
        f"{server.url}/#/compare-runs?runs={urllib.parse.quote(ids)}"
        f"&experiments={urllib.parse.quote(json.dumps([experiment.experiment_id]))}"
        "&workflowType=machine_learning"
    )
    page = wait_for(driver, "Comparing 2 Runs")
    page = wait_for(driver, "Parameters")
    driver.save_screenshot(str(ARTIFACTS / "mlflow_compare.png"))
    assert "iris/baseline" in page and "iris/dropout" in page
    dropout = {
        r.data.tags["variant"]: config.model_spec(params, "iris", r.data.tags["variant"])["dropout"] for r in pair
    }
    assert re.search(rf"(?m)^dropout\s+{dropout['baseline']}\s+{dropout['dropout']}\s*$", page), page[:4000]
    assert re.search(r"(?m)^warm_start\s+null\s+null\s*$", page)  # params as JSON text, not Python's None
    assert "None" not in re.findall(r"(?m)^\w+\s+(\S+)", page)
    durations = re.search(r"Duration:\s+(\S+)\s+(\S+)", page).groups()
    assert not any(d.endswith("ms") for d in durations), durations
