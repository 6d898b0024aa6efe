import json
from functools import partial
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from mlbasics.core import plots
from mlbasics.core.files import read_csv, write_csv, write_json
from mlbasics.data import arrays as data
from mlbasics.data import preprocess
from mlbasics.evaluation import bootstrap, diagnostics, overtraining, physics_plots
from mlbasics.params import config
from mlbasics.pipeline import declarations as stages
from mlbasics.pipeline import graph as pipeline
from mlbasics.report import pages as report

VARIANTS = ["baseline", "dropout"]


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.targets: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.targets.append(attrs["src"])
        if tag == "a" and not attrs["href"].startswith("#"):
            self.targets.append(attrs["href"])


def local_targets(page: Path) -> list[Path]:
    parser = Links()
    parser.feed(page.read_text())
    return [page.parent / t for t in parser.targets if not t.startswith("data:")]  # an embedded figure: no file


def numbers_of(judged: dict) -> dict:
    """The overtraining analytics as metrics.json holds them (numbers only: the verdict as flags)."""
    return {**{k: v for k, v in judged.items() if k != "verdict"}, **overtraining.flags(judged)}


def fake_variant_outputs(root: Path, dataset: str, variant: str, overfit: bool) -> None:
    """Files as the train and evaluate stages write them (history, metrics, figures)."""
    one = {"dataset": dataset, "variant": variant}
    epochs = np.arange(1, 11)
    val = 1 / epochs + (0.04 * epochs if overfit else 0)  # overfit: best at epoch 5, rising from 6
    rows = [[e, 1 / e, 0.6 + 0.03 * e, v, 0.6 + 0.02 * e] for e, v in zip(epochs, val, strict=True)]
    history = root / stages.HISTORY.format(**one)
    write_csv(history, ["epoch", "loss", "accuracy", "val_loss", "val_accuracy"], rows)
    ks = {"a": 0.5, "b": 0.001 if overfit else 0.4}
    judged = overtraining.analyse(read_csv(history), config.section_defaults("overtraining"), ks)
    efficiencies = {f"{kind}sig_eff_at_bkg_{e}": 0.5 for kind in ("", "train_") for e in ("0p01", "0p10", "0p30")}
    write_json(
        root / stages.METRICS.format(**one),
        {
            "accuracy": 0.9 if overfit else 0.95,
            "n_test": 40,
            "precision_macro": 0.9,
            "recall_macro": 0.9,
            "f1_macro": 0.9,
            "roc_auc": 0.6 if overfit else 1.0,
            "roc_auc_ci_lo": 0.2 if overfit else 1.0,
            "roc_auc_ci_hi": 0.9 if overfit else 1.0,
            **efficiencies,
            "best_cut": 0.7,
            "best_cut_asimov_z": 2.5,
            "best_cut_s_over_sqrt_s_b": 2.4,
            "best_cut_signal_eff": 0.6,
            "best_cut_background_eff": 0.01,
            **{f"ks_p_{k}": p for k, p in ks.items()},
            **numbers_of(judged),
        },
    )
    side = np.linspace(0, 1, 200)  # the train stage's 200 x 200 boundary grid of a 2-D classifier
    boundary = np.add.outer(side, side).reshape(-1, 1) / 2 + (0.1 if overfit else 0.0)
    np.savez(root / stages.SCORES.format(**one), boundary=boundary.astype(np.float32))
    y_test = np.arange(10) % 2  # the fake split's test labels (below)
    # overfit (the baseline): a response that hardly separates; the other separates every event
    response = [0.5 + 0.01 * k for k in range(10)] if overfit else [0.3 + 0.4 * t for t in y_test]
    write_csv(
        root / stages.PREDICTIONS.format(**one),
        ["actual", "predicted", "response"],
        [["ab"[t], "ab"[int(r > 0.5)], r] for t, r in zip(y_test, response, strict=True)],
    )
    # as evaluate leaves them: the headline numbers' replicates, on the draws every variant shares
    bootstrap.write(
        root / stages.BOOTSTRAP.format(**one), bootstrap.replicates("binary", y_test, np.array(response), None, 200, 0)
    )
    importance = (
        []
        if overfit
        else [
            [0, 0.25, 0.01, "permutation: drop in test ROC AUC"],
            [1, 0.05, 0.02, "permutation: drop in test ROC AUC"],
        ]
    )
    write_csv(root / stages.IMPORTANCE.format(**one), ["input", "importance", "error", "measure"], importance)
    classes = [
        {"name": n, "train": np.r_[0.2, 0.4], "w_train": None, "test": np.r_[0.3], "w_test": None, "p": p}
        for n, p in ks.items()
    ]
    physics_plots.response([("b vs a", classes)], variant, root / stages.RESPONSE_PNG.format(**one))
    plots.training_curves(read_csv(history), variant, root / stages.CURVES_PNG.format(**one))
    plots.confusion(np.array([[18, 2], [1, 19]]), ["a", "b"], variant, root / stages.CONFUSION_PNG.format(**one))
    curve = {"b vs a": (np.array([0, 0.1, 1]), np.array([0, 0.9, 1]), 0.9)}
    diagnostics.draw(
        variant, [partial(diagnostics.roc_panel, curves=curve)], root / stages.DIAGNOSTICS_PNG.format(**one)
    )


def prefixed(root: Path, named: dict) -> dict:
    return {k: [root / p for p in v] if isinstance(v, list) else root / v for k, v in named.items()}


def dataset_page(
    root: Path, d: str, pairs: list, datasets: list, figures: bool = True, methods: dict | None = None
) -> Path:
    """A dataset's data files as its stages write them, then its report page (the page's path)."""
    x, y = np.random.default_rng(0).normal(size=(30, 2)), np.arange(30) % 2
    plots.preview(x, y, ["a", "b"], d, root / stages.PREVIEW_PNG.format(dataset=d))
    data.save(data.Dataset(x, y, ["a", "b"], feature_names=["pt", "eta"]), root / stages.RAW.format(dataset=d))
    arrays = {f"{xy}_{part}": x[:10] if xy == "x" else y[:10] for xy in "xy" for part in ("train", "val", "test")}
    preprocess.save(
        arrays,
        ["a", "b"],
        root / stages.PROCESSED.format(dataset=d),
        preprocess.fit_scaler("none", x),
        root / stages.SCALER.format(dataset=d),
    )
    report.dataset_page(
        d,
        VARIANTS,
        methods or dict.fromkeys(VARIANTS, "mlp"),
        0.95,
        prefixed(root, pipeline.inputs("report", pairs, datasets, d, figures=figures)),
        prefixed(root, pipeline.outputs("report", d)),
        dict.fromkeys(VARIANTS, "hidden_layers [8]"),
        config.section_defaults("overtraining"),
        {v: {"activation": "relu", "learning_rate": 0.01 if v == "baseline" else 0.1} for v in VARIANTS},
        "",
        {"pt": "GeV"},  # params' units
    )
    return root / stages.DATASET_PAGE.format(dataset=d)


def test_dataset_pages_index_and_summary(tmp_path):
    datasets = ["toy", "iris"]
    pairs = [(d, v) for d in datasets for v in VARIANTS]
    for d in datasets:
        for v in VARIANTS:
            fake_variant_outputs(tmp_path, d, v, overfit=(v == "baseline"))
        dataset_page(tmp_path, d, pairs, datasets)
    outputs = prefixed(tmp_path, pipeline.outputs("summary"))
    inputs = prefixed(tmp_path, pipeline.inputs("summary", pairs, datasets))
    report.summary(datasets, pairs, ["mlp"] * len(pairs), inputs, outputs)

    rows = read_csv(outputs["summary"])
    assert [(r["dataset"], r["variant"]) for r in rows] == [(d, v) for d in datasets for v in VARIANTS]
    assert float(rows[1]["accuracy"]) == 0.95 and int(rows[0]["epochs"]) == 10
    index = outputs["index"].read_text()
    assert "best test ROC AUC 1.0000 (dropout)" in index  # two classes: ranked by ROC AUC
    # the index alone answers the question for every dataset: who overfits, why (since when, the loss gap, the KS
    # probability against its Sidak threshold), what helped
    glance = index[index.index("Every dataset at a glance") : index.index("All runs")]
    why = "validation loss above its best since epoch 6; final loss gap 0.400 > 0.25; KS p 0.001 < 0.005"
    for d in datasets:  # one row per dataset: its best run, every verdict that is not ok with its reason
        row = glance[glance.index(f">{d}</a>") :]
        row = row[: row.index("</tr>")]
        assert f"<strong>baseline</strong>: overfitting ({why})" in row and "<td>dropout</td>" in row, row
    runs = index[index.index("All runs") :]
    assert runs.count("<h3>") == 2 and runs.count("<tr>") == 2 * (1 + len(VARIANTS))  # a short table per dataset
    assert f"<td>overfitting ({why})</td>" in runs  # every run's verdict and reason
    assert runs.index("<td>dropout</td>") < runs.index("<td>baseline</td>")  # best first by ROC AUC
    assert (
        rows[0]["reason"] == why
        and rows[1]["reason"] == "best epoch 10 of 10, not ended by early stopping: still improving"
    )
    for page in [outputs["index"], *(tmp_path / stages.DATASET_PAGE.format(dataset=d) for d in datasets)]:
        targets = local_targets(page)
        assert targets, page
        missing = [t for t in targets if not t.exists()]
        assert not missing, f"{page}: broken links {missing}"
    toy = (tmp_path / "reports/toy/index.html").read_text()
    # the lecture's question answered on the page: baseline overfits since epoch 6, dropout helped
    assert f"<strong>Overfitting:</strong> baseline ({why})." in toy
    helped = "beyond the 95 % interval of the difference):\n    dropout."
    assert helped in toy
    assert "<td>dropout</td><td>+0.4000 [" in toy and "] better</td>" in toy  # the difference with its interval
    # the importance the method gives each input, beside the separation ranking
    assert "<th>dropout: permutation: drop in test ROC AUC</th>" in toy and "<td>0.2500 &plusmn; 0.0100</td>" in toy
    assert toy.index(">dropout</a>") < toy.index(">baseline</a>"), "the leaderboard lists the better variant first"
    assert all(f'id="{v}"' in toy for v in VARIANTS) and "comparison.png" in toy and 'src="preview.png"' in toy
    assert not any(str(tmp_path) in t for t in (toy, index)), "links are relative (the folder can be zipped)"
    # TMVA's tables: KS p per class (baseline's class b overtrained), efficiencies test (train), input ranking
    assert "<th>KS p, a</th><th>KS p, b</th>" in toy and "<td>0.001</td>" in toy
    assert "<td>0.500 (0.500)</td>" in toy and "@B = 0.10" in toy
    assert "<th>Asimov Z</th>" in toy and "<td>2.50</td>" in toy  # the best cut for the expected yields
    assert "<td>pt [GeV]</td>" in toy and "<td>eta</td>" in toy and 'src="inputs.png"' in toy  # with its unit
    assert 'src="baseline/response.png"' in toy


def test_a_sweep_comparison_says_how_many_variants_instead_of_a_legend_of_every_name(tmp_path):
    for count, named in ((plots.LEGEND_MAX, True), (plots.LEGEND_MAX + 1, False)):
        fig, ax = plots.plt.subplots()
        for k in range(count):
            ax.plot([0, 1], [k, k], label=f"v{k}")
        plots.legend(ax, count, title="validation (solid), train (dashed)")
        if named:
            assert [t.get_text() for t in ax.get_legend().get_texts()] == [f"v{k}" for k in range(count)]
        else:
            assert ax.get_legend() is None
            assert [t.get_text() for t in ax.texts] == [
                f"validation (solid), train (dashed)\n{count} variants: the leaderboard ranks them"
            ]
        plots.save_figure(fig, tmp_path / f"{count}.png")
        assert (tmp_path / f"{count}.png").stat().st_size > 0


def test_a_grid_without_variant_figures_reads_and_links_none(tmp_path):
    """figures: {per_variant: false} (a large sweep): evaluate declares no figures, the report reads none, and its
    page says why, with every number and link still there."""
    assert set(pipeline.outputs("evaluate")) - set(pipeline.outputs("evaluate", figures=False)) == set(
        stages.VARIANT_FIGURES
    )
    pairs = [("toy", v) for v in VARIANTS]
    assert all(pipeline.inputs("report", pairs, ["toy"], "toy", figures=False)[k] == [] for k in stages.VARIANT_FIGURES)
    for v in VARIANTS:
        fake_variant_outputs(tmp_path, "toy", v, overfit=(v == "baseline"))
        for template in stages.VARIANT_FIGURES.values():
            (tmp_path / template.format(dataset="toy", variant=v)).unlink()
    page = dataset_page(tmp_path, "toy", pairs, ["toy"], figures=False)
    html = page.read_text()
    assert "<code>figures: {per_variant: false}</code>" in html and '<section class="variant"' not in html
    assert (
        "<strong>Overfitting:</strong> baseline (validation loss above its best since epoch 6;" in html
        and 'src="comparison.png"' in html
    )
    assert [t.name for t in local_targets(page) if not t.exists()] == ["index.html"]  # the grid's: summary writes it


def test_the_methods_table_shows_the_seed_spread_and_how_many_variants_each_was_chosen_from(tmp_path):
    """Two methods, each trained over three seeds: the page's methods table says of how many variants each best
    one was chosen and its spread over seeds beside the bootstrap interval; the sentence says the intervals were
    widened by it."""
    datasets, pairs = ["toy"], [("toy", v) for v in VARIANTS]
    for v in VARIANTS:
        fake_variant_outputs(tmp_path, "toy", v, overfit=(v == "baseline"))
        path = tmp_path / stages.METRICS.format(dataset="toy", variant=v)
        metrics = json.loads(path.read_text())
        metrics.update(roc_auc_seed_mean=metrics["roc_auc"], roc_auc_seed_std=0.01, n_seeds=3)
        path.write_text(json.dumps(metrics))
    page = dataset_page(tmp_path, "toy", pairs, datasets, methods={"baseline": "mlp", "dropout": "bdt"}).read_text()
    assert "(of 1)" in page and "&plusmn; 0.0100 over 3 seeds" in page
    assert "widened by the seed-to-seed spread" in page


def test_underfitting_is_judged_against_the_best_run_on_the_same_events():
    """A run is underfitting when the best run beats it on the test events beyond the interval of the paired
    difference and it fits its own training events no better than the best generalises: Fisher at AUC 0.75 with
    its training efficiency 0.30 below the MLP's test 0.70. A run as bad on test that fits its training events
    well is not (that is the other failure), nor one within the uncertainty or the margin, nor the best itself."""
    from mlbasics.report import verdicts

    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.01, 1000)

    def run(variant, auc, train_eff, test_eff=0.5, verdict="ok"):
        row = {"variant": variant, "roc_auc": auc, "sig_eff_at_bkg_0p10": test_eff, "verdict": verdict, "reason": ""}
        return {**row, "train_sig_eff_at_bkg_0p10": train_eff}

    rows = [
        run("mlp", 0.93, 0.72, test_eff=0.70),
        run("fisher", 0.75, 0.30),
        run("bdt", 0.80, 0.95),  # fits its training events better than the best generalises
        run("close", 0.925, 0.60),  # within the uncertainty
        run("limit", 0.9255, 0.60),  # beyond it, but by less than the margin (1 % of 0.93)
        run("late", 0.70, 0.20, verdict="not_converged"),
    ]
    replicates = {r["variant"]: {"roc_auc": r["roc_auc"] + noise} for r in rows}
    replicates["close"]["roc_auc"] = 0.925 + rng.normal(0, 0.01, 1000)  # not paired: a wide interval
    verdicts.underfitting(rows, "binary", replicates, 0.95, margin=0.01)
    judged = {r["variant"]: r["verdict"] for r in rows}
    assert judged == {
        "mlp": "ok",
        "fisher": "underfitting",
        "bdt": "ok",
        "close": "ok",
        "limit": "ok",
        "late": "underfitting",
    }
    assert rows[1]["reason"] == (
        "test ROC AUC 0.7500, 0.1800 [0.1800, 0.1800] below the best (mlp); signal efficiency at background 0.10 "
        "0.3000 on its training events, below the best's 0.7000 on the test events"
    )
    answer = verdicts.overtraining(rows, "binary", replicates, 0.95)
    assert answer["underfit"][0].startswith("fisher (test ROC AUC 0.7500")
    # a regression: MSE, lower is better; the training loss (MSE) against the best's test MSE
    rows = [
        {"variant": "mlp", "mse": 0.10, "train_loss": 0.09, "verdict": "ok", "reason": ""},
        {"variant": "linear", "mse": 0.50, "train_loss": 0.48, "verdict": "ok", "reason": ""},
    ]
    replicates = {r["variant"]: {"mse": r["mse"] + noise} for r in rows}
    verdicts.underfitting(rows, "regression", replicates, 0.95, margin=0.01)
    assert (
        rows[1]["verdict"] == "underfitting"
        and "MSE 0.4800 on its training events, above the best's" in rows[1]["reason"]
    )


def test_a_pages_variants_keep_their_colour_on_every_panel_and_classes_theirs_on_every_figure():
    """The comparison figure: each variant's loss, metric and rejection curves in one colour (by name, not by
    position: a method fitted in one step has no learning curve but its rejection curve); signal red and
    background blue wherever a class is drawn."""
    from matplotlib.colors import to_hex

    rows = [{"epoch": str(e), "loss": "1", "val_loss": "1", "accuracy": "0.5", "val_accuracy": "0.5"} for e in (1, 2)]
    histories = {"baseline": rows, "fisher": rows[:1], "dropout": rows}
    eff = np.linspace(0.01, 1, 20)
    curves = {v: (eff, eff**2) for v in histories}
    fig = plots.comparison_figure(histories, "t", partial(physics_plots.rejection_panel, curves=curves))
    drawn = [{line.get_label(): to_hex(line.get_color()) for line in ax.get_lines()} for ax in fig.axes]
    assert drawn[2] == plots.variant_colours(list(histories)) and len(set(drawn[2].values())) == 3
    for panel in drawn[:2]:
        assert {v: c for v, c in panel.items() if v in histories} == {
            v: drawn[2][v] for v in ("baseline", "dropout")
        }, panel
    assert fig.axes[2].get_yscale() == "log"  # rejection 1/eff_B, as physicists draw it
    plots.plt.close(fig)
    colours = plots.class_colours(["background", "signal"])
    assert colours == {"background": "#3f90da", "signal": "#bd1f01"}
    assert plots.class_colours(["signal", "background", "other"])["signal"] == "#bd1f01"
    ten = plots.class_colours([str(d) for d in range(10)])
    assert len(set(ten.values())) == 10


def test_the_preview_samples_every_class_even_from_a_file_sorted_by_class():
    """The hep data's first 2,770 rows are all signal: the preview's 2,000 points and 25 images hold every
    class, seeded."""
    y = np.r_[np.ones(2770, int), np.zeros(230, int)]
    shown = plots.every_class(y, 2000)
    assert len(shown) == 2000 == len(set(shown.tolist())) and set(y[shown]) == {0, 1}
    assert (y[shown] == 0).sum() == 230  # all of the smaller class
    assert np.array_equal(shown, plots.every_class(y, 2000))
    digits = np.repeat(np.arange(10), 100)
    assert set(digits[plots.every_class(digits, 25)]) == set(range(10))
    assert sorted(plots.every_class(np.arange(5) % 2, 25)) == list(range(5))


def test_the_playground_page_embeds_every_mlp_runs_boundary_losses_and_a_control_per_setting_that_differs(tmp_path):
    """reports/<dataset>/playground.html: one control per setting the variants differ in (learning rate here,
    not the activation they share), each run's 50 x 50 boundary from the training stage's grid, its losses, and
    the training points - all in the page, nothing to fetch."""
    import re

    pairs = [("toy", v) for v in VARIANTS]
    for v in VARIANTS:
        fake_variant_outputs(tmp_path, "toy", v, overfit=(v == "baseline"))
    page = dataset_page(tmp_path, "toy", pairs, ["toy"]).parent / "playground.html"
    html = page.read_text()
    assert '<select id="ctl-learning_rate" data-key="learning_rate"><option>0.01</option><option>0.1</option>' in html
    assert "ctl-activation" not in html and "http" not in html.split("<script>")[1]  # nothing fetched
    data = json.loads(re.search(r"const DATA = (\{.*\});", html).group(1))
    assert set(data["runs"]) == set(VARIANTS) and len(data["points"]) == len(data["labels"]) == 10
    grid = data["runs"]["baseline"]["grid"]
    assert len(grid) == 50 and len(grid[0]) == 50 and grid[0][0] == pytest.approx(0.1)  # every 4th point of 200
    assert data["runs"]["dropout"]["settings"] == {"activation": "relu", "learning_rate": "0.1"}
    assert len(data["runs"]["dropout"]["val_loss"]) == 10
    toy = (tmp_path / "reports/toy/index.html").read_text()
    assert 'href="playground.html"' in toy
    assert '<h2>Decision boundaries</h2>\n<img src="data:image/png;base64,' in toy  # two classes of two inputs


def test_the_page_templates_are_code_of_the_stages_that_render_pages():
    """Editing a template reruns the report and summary stages (both engines list it among their code), and
    nothing that renders no page."""
    templates = {f"src/mlbasics/templates/{p.name}" for p in Path(report.__file__).parent.parent.glob("templates/*.j2")}
    assert templates and all(templates <= set(pipeline.code(stage)) for stage in ("report", "summary"))
    assert not templates & set(pipeline.code("train")) and not templates & set(pipeline.code("evaluate"))


def test_the_two_gaussians_page_draws_every_boundary_beside_the_bayes_boundary():
    """The Bayes boundary x0 + x1 = 0 carried into the scaled inputs (z = (x - offset) / scale) by hand: raw
    points on it land on the drawn line; the Bayes accuracy is Phi(sqrt 2) = 0.9214; a whitening scaler (which
    turns the plane) gets no line rather than a wrong one."""
    from scipy.stats import norm

    from mlbasics.report import lecture

    scaler = preprocess.Scaler("standard", np.array([0.03, -0.04]), np.array([1.4, 1.44]))
    a, b = lecture.bayes_line(scaler)
    t = np.linspace(-3, 3, 7)
    z = scaler.transform(np.column_stack([t, -t]))
    np.testing.assert_allclose(z[:, 1], a * z[:, 0] + b, atol=1e-6)
    assert pytest.approx(norm.cdf(np.sqrt(2))) == lecture.BAYES_ACCURACY and round(lecture.BAYES_ACCURACY, 3) == 0.921
    assert lecture.bayes_line(preprocess.Scaler("pca_whiten", np.zeros(2), np.ones(2), matrix=np.eye(2))) is None
