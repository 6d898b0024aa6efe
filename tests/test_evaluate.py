import numpy as np
import pytest
from sklearn.metrics import f1_score

from mlbasics.core.files import read_csv
from mlbasics.evaluation import diagnostics, evaluate
from mlbasics.methods import training as methods


def test_metrics_match_hand_counts():
    y_true = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 2])
    y_pred = np.array([0, 0, 1, 1, 1, 2, 2, 2, 0, 2])
    m = evaluate.classification_metrics(y_true, y_pred, ["a", "b c", "d"])
    assert m["accuracy"] == pytest.approx(0.8) and m["n_test"] == 10
    assert m["precision_a"] == pytest.approx(2 / 3) and m["recall_a"] == pytest.approx(2 / 3)
    assert m["precision_b_c"] == pytest.approx(2 / 3) and m["recall_b_c"] == pytest.approx(1.0)
    assert m["precision_d"] == pytest.approx(1.0) and m["recall_d"] == pytest.approx(0.8)
    assert m["f1_macro"] == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    assert all(isinstance(v, (int, float)) for v in m.values()), "flat keys, plain numbers"


def test_class_never_predicted_scores_zero_without_warning():
    m = evaluate.classification_metrics(np.array([0, 1, 1]), np.array([1, 1, 1]), ["x", "y"])
    assert m["precision_x"] == 0.0 and m["recall_x"] == 0.0


def _dense(n_in: int, n_out: int, activation: str, weights: np.ndarray):
    import keras

    model = keras.Sequential([keras.Input((n_in,)), keras.layers.Dense(n_out, activation=activation)])
    model.layers[0].set_weights([weights.astype(np.float32), np.zeros(n_out, np.float32)])
    return model


def test_classes_from_sigmoid_and_softmax_outputs():
    sigmoid = _dense(1, 1, "sigmoid", np.ones((1, 1)))  # p = sigmoid(x): x < 0 -> class 0
    assert evaluate.classes_of(sigmoid.predict(np.array([[-2.0], [0.5]], np.float32), verbose=0)).tolist() == [0, 1]
    softmax = _dense(3, 3, "softmax", np.eye(3))  # the largest input wins
    x = np.array([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]], np.float32)
    assert evaluate.classes_of(softmax.predict(x, verbose=0)).tolist() == [1, 0]


def test_confusion_csv_layout(tmp_path):
    evaluate.write_confusion(tmp_path / "c.csv", np.array([[3, 1], [0, 4]]), ["cat", "dog"])
    rows = read_csv(tmp_path / "c.csv")
    assert rows == [
        {"true\\predicted": "cat", "cat": "3", "dog": "1"},
        {"true\\predicted": "dog", "cat": "0", "dog": "4"},
    ]


def test_roc_binary_and_multiclass_match_scikit_learn():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    y = np.arange(200) % 2
    p = np.clip(0.5 + 0.35 * (2 * y - 1) + rng.normal(0, 0.3, 200), 0, 1)
    curves, auc = evaluate.roc(y, p[:, None], ["neg", "pos"])
    assert auc == pytest.approx(roc_auc_score(y, p)) and 0.8 < auc < 1.0
    assert list(curves) == ["pos vs neg"]
    y3 = np.arange(300) % 3
    scores = rng.dirichlet(np.ones(3), 300) + np.eye(3)[y3]
    scores /= scores.sum(axis=1, keepdims=True)
    curves, auc = evaluate.roc(y3, scores, ["a", "b", "c"])
    assert list(curves) == ["a", "b", "c"]
    assert auc == pytest.approx(roc_auc_score(y3, scores, multi_class="ovr", average="macro"))
    assert evaluate.roc(np.zeros(5, int), np.full((5, 1), 0.3), ["a", "b"]) == ({}, None)  # one class: no ROC


def _mlp(n_in: int, n_out: int):
    import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((n_in,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(n_out, activation="sigmoid" if n_out == 1 else "softmax"),
        ]
    )


@pytest.mark.parametrize("kind", ["binary-2d", "multiclass-images", "multiclass-table"])
def test_diagnostic_panels_for_each_task_kind(kind, tmp_path):
    """Which panels a run gets: ROC always (classification), the decision boundary for 2-D data, test images
    and first-layer weights for images. Each figure is drawn for real and saved."""
    rng = np.random.default_rng(1)
    n_features, n_classes, shape = {
        "binary-2d": (2, 2, ()),
        "multiclass-images": (64, 3, (8, 8)),
        "multiclass-table": (4, 3, ()),
    }[kind]
    x = rng.normal(size=(60, n_features)).astype(np.float32)
    y = np.arange(60) % n_classes
    model = _mlp(n_features, 1 if n_classes == 2 else n_classes)
    scores = model.predict(x, verbose=0)
    names = [f"c{k}" for k in range(n_classes)]
    curves, auc = evaluate.roc(y, scores, names)
    panels = evaluate.classification_panels(
        methods.KerasMLP({}, model), x, y, evaluate.classes_of(scores), curves, names, shape
    )
    drawn = [p.func.__name__ for p in panels]
    expected = {
        "binary-2d": ["roc_panel", "boundary_panel"],
        "multiclass-images": ["roc_panel", "test_images_panel", "weights_panel"],
        "multiclass-table": ["roc_panel"],
    }[kind]
    assert drawn == expected and 0 <= auc <= 1
    out = tmp_path / "diagnostics.png"
    diagnostics.draw(kind, panels, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_regression_diagnostics_are_residuals(tmp_path):
    from functools import partial

    y = np.linspace(0, 1, 50)
    diagnostics.draw("reg", [partial(diagnostics.residuals_panel, y_true=y, y_pred=y + 0.01)], tmp_path / "r.png")
    assert (tmp_path / "r.png").stat().st_size > 1000


def test_test_images_and_weights_are_one_image_each_with_every_tile_on_its_own_scale():
    """The 25 test images and 16 units' weights are drawn as one image per panel (not an axes per tile): each
    tile where the grid puts it, scaled as imshow scaled it alone (grey 0..1; weights -1..1 by their largest
    magnitude), titled true -> predicted, wrong ones framed red."""
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(2)
    images = rng.uniform(3.0, 9.0, size=(25, 8, 8))
    y_true, y_pred = np.arange(25) % 3, (np.arange(25) % 3 + (np.arange(25) % 7 == 0)) % 3
    fig = plt.figure()
    (sub,) = fig.subfigures(1, 1, squeeze=False)[0]
    diagnostics.test_images_panel(sub, images, y_true, y_pred, ["a", "b", "c"])
    (ax,) = sub.axes
    mosaic = ax.get_images()[0].get_array()
    corners = [
        (top, left)
        for top in range(0, mosaic.shape[0], mosaic.shape[0] // 5 + 1)
        for left in range(0, mosaic.shape[1], mosaic.shape[1] // 5 + 1)
    ]
    for k, (top, left) in enumerate(corners[:25]):
        tile = images[k]
        np.testing.assert_allclose(mosaic[top : top + 8, left : left + 8], (tile - tile.min()) / np.ptp(tile))
    assert np.ma.getmaskarray(mosaic).any(), "blank (NaN, masked) between the tiles"
    assert [t.get_text() for t in ax.texts][:3] == ["a\u2192b", "b\u2192b", "c\u2192c"]
    red = [p for p in ax.patches if p.get_edgecolor()[:3] == (1.0, 0.0, 0.0)]
    assert len(red) == int((y_true != y_pred).sum()) == 4
    kernel = rng.normal(size=(64, 16))
    (sub2,) = fig.subfigures(1, 1, squeeze=False)[0]
    diagnostics.weights_panel(sub2, kernel, (8, 8))
    weights = sub2.axes[0].get_images()[0].get_array()
    first = kernel[:, 0].reshape(8, 8)
    np.testing.assert_allclose(weights[:8, :8], first / np.abs(first).max())
    assert np.abs(weights).max() == 1.0
    plt.close(fig)


def test_figures_laid_out_without_a_cropping_pass_keep_every_label_inside(tmp_path, monkeypatch):
    """The confusion matrix (sized from its measured labels), the diagnostics figure (its title in a strip of
    its own), the response figure and the training curves (fixed margins; a long title widens the figure) are
    saved without cropping: every label, tick label and title lies inside the image - short and long class names
    and titles (a sweep point's variant name)."""
    from functools import partial

    from mlbasics.core import plots
    from mlbasics.evaluation import physics_plots

    saved = []
    for module in (plots, diagnostics, physics_plots):
        monkeypatch.setattr(module, "save_figure", lambda fig, path, laid_out=False: saved.append((fig, laid_out)))
    long_title = "a-long-dataset-name / a-long-variant-name-of-a-sweep-point: test set"
    for names, title in [
        ([str(k) for k in range(10)], "digits / baseline: test set"),
        (["background", "signal"], "hep / l2: test set"),
        (["a very long class name", "b", "c"], long_title),
    ]:
        plots.confusion(np.diag(np.arange(1, len(names) + 1)), names, title, tmp_path / "confusion.png")
    x = np.random.default_rng(0).normal(size=(50, 2))
    y = (x[:, 0] > 0).astype(int)
    curves, _ = evaluate.roc(y, x[:, :1], ["no", "yes"])
    grid = x[:, :1].repeat(800, axis=0)[: 200 * 200]
    diagnostics.draw(
        long_title,
        [
            partial(diagnostics.roc_panel, curves=curves),
            partial(
                diagnostics.boundary_panel, regions=(grid[:, 0] > 0).astype(int), x=x, y=y, class_names=["no", "yes"]
            ),
        ],
        tmp_path / "diagnostics.png",
    )
    rng = np.random.default_rng(1)
    classes = [
        {"name": name, "train": rng.random(80), "w_train": None, "test": rng.random(80), "w_test": None, "p": 0.5}
        for name in ("signal", "background")
    ]
    physics_plots.response([("response", classes)], long_title, tmp_path / "response.png")
    history = [{"epoch": e, "loss": 1 / e, "accuracy": 0.5, "val_loss": 1 / e, "val_accuracy": 0.5} for e in (1, 2)]
    plots.training_curves(history, long_title + " with yet more words in it", tmp_path / "curves.png")
    assert len(saved) == 6
    for fig, laid_out in saved:
        width, height = fig.get_size_inches()
        drawn = fig.get_tightbbox(fig.canvas.get_renderer())  # inches
        assert laid_out and drawn.x0 >= -0.01 and drawn.y0 >= -0.01, drawn
        assert drawn.x1 <= width + 0.01 and drawn.y1 <= height + 0.01, (drawn, width, height)


def test_an_image_classifiers_class_templates_are_its_kernels_multiplied_and_drawn(tmp_path):
    """The lecture's picture of MNIST's output weights: one template per class, inputs x classes - the dense
    kernels multiplied (the output weights themselves without hidden layers) - drawn ten tiles to a panel."""
    from functools import partial

    from mlbasics.evaluation import diagnostics
    from mlbasics.methods import mlp
    from mlbasics.params import config

    model = mlp.build_mlp(64, 10, {**config.model_defaults(), "hidden_layers": [6]})
    kernels = [
        np.asarray(layer.kernel, np.float64) for layer in model.layers if getattr(layer, "kernel", None) is not None
    ]
    templates = mlp.class_templates(model)
    assert templates.shape == (64, 10)
    np.testing.assert_allclose(templates, kernels[0] @ kernels[1], rtol=1e-5, atol=1e-6)
    names = [str(d) for d in range(10)]
    panel = partial(diagnostics.templates_panel, templates=templates, image_shape=(8, 8), class_names=names)
    diagnostics.draw("digits / baseline", [panel], tmp_path / "templates.png")
    assert (tmp_path / "templates.png").stat().st_size > 1000
