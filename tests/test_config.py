import copy
import re

import pytest
import yaml

from mlbasics.params import config
from mlbasics.pipeline import declarations as stages
from tests.helpers import ROOT, load_default_params


@pytest.fixture
def params() -> dict:
    return load_default_params()


def error_of(params: dict) -> str:
    with pytest.raises(config.ParamsError) as info:
        config.validate_params(params)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_default_params_validate_and_fill_defaults(params):
    resolved = config.validate_params(params)
    assert resolved["datasets"]["iris"]["preprocess"]["pixel_scale"] is None
    assert resolved["datasets"]["iris"]["model"]["activation"] == "relu"
    # variants stay partial overrides: defaults must not be filled into them
    assert resolved["variants"]["sigmoid"] == {"activation": "sigmoid"}
    assert params == load_default_params(), "validation must not modify its input"


def test_default_grid_is_five_datasets_by_four_mlp_variants_and_two_reference_methods_on_the_tables(params):
    resolved = config.validate_params(params)
    pairs = config.grid(resolved)
    mlps = ["baseline", "sigmoid", "dropout", "l2"]
    tables, images = ["gaussians", "iris", "hep"], ["digits", "mnist5k"]
    assert pairs == [
        (d, v) for d in resolved["run"]["datasets"] for v in [*mlps, "bdt", "fisher"] if d in tables or v in mlps
    ]
    assert len(pairs) == 26
    # the rule (method_rules.TAKES) leaves the reference methods out on images, and says so
    assert config.left_out(resolved) == [(d, v, "images") for d in images for v in ("bdt", "fisher")]
    assert config.dataset_variants(resolved, "digits") == mlps


def test_unknown_dataset_in_run(params):
    params["run"]["datasets"].append("cifar100")
    assert error_of(params) == (
        "run.datasets[5]: unknown dataset 'cifar100' (defined in datasets: digits, gaussians, hep, iris, mnist5k)"
    )


def test_unknown_loader(params):
    params["datasets"]["iris"]["loader"] = "irs"
    assert error_of(params).startswith("datasets.iris.loader: 'irs' is not one of")


def test_unknown_activation_in_variant(params):
    params["variants"]["sigmoid"]["activation"] = "sigmoidd"
    message = error_of(params)
    assert message.startswith("variants.sigmoid.activation: 'sigmoidd' is not one of")


def test_unknown_optimizer(params):
    params["datasets"]["digits"]["model"]["optimizer"] = "adamm"
    assert error_of(params).startswith("datasets.digits.model.optimizer: 'adamm' is not one of")


def test_split_must_sum_to_one(params):
    params["split"] = {"train": 0.6, "validation": 0.3, "test": 0.2}
    assert error_of(params) == "split: fractions must sum to 1, got 1.1 (train=0.6, validation=0.3, test=0.2)"


def test_negative_learning_rate(params):
    params["variants"]["l2"]["learning_rate"] = -0.01
    assert error_of(params) == "variants.l2.learning_rate: -0.01 is less than or equal to the minimum of 0"


def test_missing_key(params):
    del params["seed"]
    assert error_of(params) == "seed: required key is missing"
    params = load_default_params()
    del params["datasets"]["iris"]["model"]
    assert error_of(params) == "datasets.iris.model: required key is missing"


def test_unknown_key_is_named(params):
    params["datasets"]["iris"]["model"]["learnin_rate"] = 0.1
    assert error_of(params) == "datasets.iris.model.learnin_rate: unknown key"


def test_load_params_missing_file(tmp_path):
    with pytest.raises(config.ParamsError, match="params file not found"):
        config.load_params(tmp_path / "nope.yaml")


def test_model_spec_applies_variant_over_dataset_base(params):
    resolved = config.validate_params(params)
    spec = config.model_spec(resolved, "mnist5k", "dropout")
    assert spec["dropout"] == 0.5
    assert spec["hidden_layers"] == [256, 128]
    assert spec["learning_rate"] == 0.001  # schema default


def test_stage_settings_read_only_declared_keys(params):
    resolved = config.validate_params(params)
    train = stages.stage_settings(resolved, "train", "iris", "l2")
    spec = config.model_spec(resolved, "iris", "l2")
    assert train == {"dataset": "iris", "variant": "l2", "seed": 42, "model": spec, "loader": "iris", "selection": None}
    # changing a key the stage does not declare leaves its settings unchanged
    changed = copy.deepcopy(resolved)
    changed["variants"]["dropout"]["learning_rate"] = 0.5
    changed["datasets"]["iris"]["preprocess"]["scaler"] = "robust"
    assert stages.stage_settings(changed, "train", "iris", "l2") == train
    assert stages.stage_settings(changed, "train", "iris", "dropout") != stages.stage_settings(
        resolved, "train", "iris", "dropout"
    )


def test_every_stage_has_settings(params):
    resolved = config.validate_params(params)
    for stage in stages.STAGES:
        assert stages.stage_settings(resolved, stage, "digits", "baseline")


def test_schema_ships_with_the_package():
    assert config.SCHEMA_PATH == ROOT / "src" / "mlbasics" / "params" / "params.schema.yaml"


def test_a_sweep_expands_to_stable_readable_ids(params):
    params["variants"]["act"] = {"sweep": {"activation": ["relu", "tanh", "leaky_relu"]}, "epochs": 3}
    params["variants"]["grid"] = {"sweep": {"learning_rate": [0.01, 0.001], "hidden_layers": [[64], [32, 16]]}}
    params["run"]["variants"] = ["baseline", "act", "grid"]
    validated = config.validate_params(params)
    ids = config.run_variants(validated)
    assert ids == [
        "baseline",
        "act-relu",
        "act-tanh",
        "act-leaky_relu",
        "grid-learning_rate_0p01-hidden_layers_64",
        "grid-learning_rate_0p01-hidden_layers_32x16",
        "grid-learning_rate_0p001-hidden_layers_64",
        "grid-learning_rate_0p001-hidden_layers_32x16",
    ]
    assert ids == config.run_variants(config.validate_params(params)), "the same ids every time"
    spec = config.model_spec(validated, "iris", "act-tanh")
    assert spec["activation"] == "tanh" and spec["epochs"] == 3
    assert config.model_spec(validated, "iris", "grid-learning_rate_0p001-hidden_layers_32x16")["hidden_layers"] == [
        32,
        16,
    ]
    assert (
        stages.param_keys("train", "iris", "act-tanh", config.variant_source(validated, "act-tanh"))[-1]
        == "variants.act"
    )  # DVC tracks a swept variant through its definition
    assert len(config.grid(validated)) == 5 * 8


@pytest.mark.parametrize(
    "sweep, message",
    [
        ({"sweep": {"activation": ["relu", "nope"]}}, "variants.bad.sweep.activation[1]: 'nope' is not one of"),
        ({"sweep": {"colour": [1]}}, "variants.bad.sweep.colour: unknown model key"),
        ({"sweep": {"dropout": [0.2]}, "dropout": 0.1}, "variants.bad.sweep.dropout: also set outside the sweep"),
        ({"sweep": {"learning_rate": [-1]}}, "variants.bad.sweep.learning_rate[0]: -1 is less than or equal to"),
        ({"sweep": {"activation": []}}, "variants.bad.sweep.activation: [] should be non-empty"),
    ],
)
def test_bad_sweeps_are_named(params, sweep, message):
    params["variants"]["bad"] = sweep
    assert error_of(params).startswith(message)


@pytest.mark.parametrize(
    "variant, message",
    [
        ({"dropout": [0.1, 0.2, 0.3]}, "variants.bad.dropout: 3 rates for"),
        ({"backend": "numpy"}, "variants.bad.optimizer: the numpy backend trains with sgd"),
        (
            {"backend": "numpy", "optimizer": "sgd", "dropout": 0.5},
            "variants.bad.dropout: not available with the numpy",
        ),
        ({"warm_start": "nowhere"}, "variants.bad.warm_start: unknown variant 'nowhere'"),
    ],
)
def test_impossible_model_combinations_are_named(params, variant, message):
    params["variants"]["bad"] = variant
    assert error_of(params).startswith(message)


def test_a_warm_started_variant_needs_its_parent_in_the_run(params):
    params["variants"]["tuned"] = {"warm_start": "sigmoid"}
    params["run"]["variants"] = ["baseline", "tuned"]
    assert error_of(params) == "run.variants: 'tuned' warm-starts from 'sigmoid', which must run too"


@pytest.mark.parametrize("defined", ["before", "after"])
def test_a_sweep_id_that_is_also_a_variant_is_an_error_naming_both(params, defined):
    variants = {"act": {"sweep": {"activation": ["relu", "tanh"]}}}
    params["variants"] = (
        {"act-relu": {"activation": "relu"}, **variants}
        if defined == "before"
        else {**variants, "act-relu": {"activation": "relu"}}
    )
    params["run"]["variants"] = ["act", "act-relu"]
    assert error_of(params) == (
        "variants.act: its sweep makes the id 'act-relu', which is also the name of a "
        "variant defined under variants; rename one of them"
    )


def test_two_sweeps_making_one_id_is_an_error(params):
    params["variants"] = {
        "a": {"sweep": {"lr_schedule": [{"kind": "step", "every": 2}]}},
        "a-step": {"sweep": {"epochs": [2]}},
    }
    params["run"]["variants"] = ["a", "a-step"]
    assert error_of(params) == (
        "variants.a: its sweep makes the id 'a-step-2', which the sweep of variant "
        "'a-step' makes too; rename one of them"
    )


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_yaml_mistakes_name_file_line_and_key(tmp_path):
    base = write(tmp_path, "params.yaml", (ROOT / "params.yaml").read_text())
    cases = [
        (
            "dup.yaml",
            "seed: 1\nsplit: {train: 0.6}\nseed: 2\n",
            f"{tmp_path}/dup.yaml:3:1: not valid YAML: key 'seed' appears twice in one mapping (first on line 1)",
        ),
        (
            "nested.yaml",
            "variants:\n  a: {}\n  b: {}\n  a: {dropout: 0.1}\n",
            f"{tmp_path}/nested.yaml:4:3: not valid YAML: key 'a' appears twice in one mapping (first on line 2)",
        ),
        ("syntax.yaml", "seed: 1\nrun: {datasets: [iris\n", f"{tmp_path}/syntax.yaml:3:1: not valid YAML: expected"),
        (
            "tag.yaml",
            "seed: !!python/object:os.system {}\n",
            f"{tmp_path}/tag.yaml:1:7: not valid YAML: could not determine a constructor for the tag",
        ),
    ]
    for name, text, message in cases:
        with pytest.raises(config.ParamsError) as info:
            config.load_params([base, write(tmp_path, name, text)])
        assert str(info.value).startswith(message) and "\n" not in str(info.value)
    assert "tags such as !!python/... are not allowed" in str(info.value)


def test_schema_errors_name_the_file_and_line_of_the_key(tmp_path):
    base = write(tmp_path, "params.yaml", (ROOT / "params.yaml").read_text())
    line = next(i for i, text in enumerate(base.read_text().splitlines(), 1) if text.startswith("  sigmoid:"))
    override = write(tmp_path, "over.yaml", "seed: 1\nvariants:\n  dropout: {dropout: 2}\n")
    with pytest.raises(config.ParamsError) as info:
        config.load_params([base, override])
    assert str(info.value).startswith(f"{override}:3: variants.dropout.dropout: 2 is greater than")
    base.write_text(base.read_text().replace("sigmoid: {activation: sigmoid}", "sigmoid: {activation: sigmoidd}"))
    with pytest.raises(config.ParamsError) as info:
        config.load_params(base)
    assert str(info.value).startswith(f"{base}:{line}: variants.sigmoid.activation: 'sigmoidd'")


def test_snakemake_configfile_reader_names_file_line_and_column(tmp_path):
    """The hook setup.sh installs (configfile_hook.py) in the reader Snakemake uses for --configfile: a syntax
    error or a tag gets file, line and column; a good file reads as before."""
    import subprocess
    import sys

    write(tmp_path, "syntax.yaml", "seed: 1\nrun: {datasets: [iris\n")
    write(tmp_path, "tag.yaml", "seed: !!python/object:os.system {}\n")
    write(tmp_path, "good.yaml", "seed: 1\nrun: {datasets: [iris]}\n")
    script = (
        "import sys\nfrom snakemake.common.configfile import load_configfile\n"
        "for name in sys.argv[1:]:\n    try:\n        print(dict(load_configfile(name)))\n"
        "    except Exception as exc:\n        print(type(exc).__name__, exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, "syntax.yaml", "tag.yaml", "good.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert out[0].startswith("WorkflowError invalid params: syntax.yaml:3:1: not valid YAML: expected"), out
    assert out[1].startswith("WorkflowError invalid params: tag.yaml:1:7: not valid YAML: could not determine"), out
    assert out[2] == "{'seed': 1, 'run': {'datasets': ['iris']}}"


@pytest.mark.engine
def test_snakemake_names_file_and_line_of_yaml_mistakes_and_sweep_collisions(tmp_path):
    import sys

    from tests.helpers import copy_project, run

    project = copy_project(tmp_path / "project")
    good = (project / "params.yaml").read_text()
    (project / "params.yaml").write_text(good.replace("seed: 42 ", "seed: [42 "))
    result = run([sys.executable, "-m", "snakemake", "-n"], cwd=project, check=False)
    assert result.returncode != 0
    assert re.search(r"invalid params: params\.yaml:\d+:\d+: not valid YAML: ", result.stdout + result.stderr)
    (project / "params.yaml").write_text(good)
    write(project, "over.yaml", "seed: 1\nrun: {datasets: [iris\n")  # read by Snakemake before the Snakefile
    result = run([sys.executable, "-m", "snakemake", "-n", "--configfile", "over.yaml"], cwd=project, check=False)
    assert result.returncode != 0
    assert "invalid params: over.yaml:3:1: not valid YAML: expected" in result.stdout + result.stderr
    write(project, "over.yaml", "seed: 1\nseed: 2\n")
    result = run([sys.executable, "-m", "snakemake", "-n", "--configfile", "over.yaml"], cwd=project, check=False)
    assert f"invalid params: {project}/over.yaml:2:1: not valid YAML: key 'seed' appears twice" in (
        result.stdout + result.stderr
    )
    write(
        project,
        "over.yaml",
        "variants:\n  act: {sweep: {activation: [relu, tanh]}}\n  act-relu: {}\nrun: {variants: [act, act-relu]}\n",
    )
    result = run([sys.executable, "-m", "snakemake", "-n", "--configfile", "over.yaml"], cwd=project, check=False)
    assert f"invalid params: {project}/over.yaml:2: variants.act: its sweep makes the id 'act-relu'" in (
        result.stdout + result.stderr
    )
    write(project, "over.yaml", "seed: 1\ngates: {}\n")  # merges nothing: refused, naming the way to clear
    result = run([sys.executable, "-m", "snakemake", "-n", "--configfile", "over.yaml"], cwd=project, check=False)
    assert f"invalid params: {project}/over.yaml:2: gates: {{}} merges nothing" in result.stdout + result.stderr
    write(project, "over.yaml", "gates: null\n")  # clears them: the check job has no gate to hold
    result = run([sys.executable, "-m", "snakemake", "-n", "--configfile", "over.yaml"], cwd=project)
    assert "rule check:" in result.stdout


def test_a_reference_method_variant_reads_its_block_and_the_shared_keys_only(params):
    params["datasets"]["hep"]["model"]["bdt"] = {"max_iter": 50}
    params["variants"]["deep"] = {"method": "bdt", "bdt": {"max_depth": 4}}
    params["run"]["variants"].append("deep")
    resolved = config.validate_params(params)
    spec = config.model_spec(resolved, "hep", "deep")
    assert set(spec) == {"method", "task", "event_weights", "bdt"}
    # the variant's block overrides the dataset's key by key; the rest are the schema's defaults
    assert spec["bdt"]["max_iter"] == 50 and spec["bdt"]["max_depth"] == 4 and spec["bdt"]["learning_rate"] == 0.1
    assert resolved["variants"]["deep"] == {"method": "bdt", "bdt": {"max_depth": 4}}
    assert "bdt" not in config.model_spec(resolved, "hep", "baseline")  # an MLP reads no method's block


def test_a_sweep_over_a_method_key_expands_with_readable_ids(params):
    params["variants"]["trees"] = {"method": "bdt", "sweep": {"bdt.max_depth": [2, 4], "bdt.learning_rate": [0.05]}}
    params["run"]["variants"] = ["baseline", "trees"]
    resolved = config.validate_params(params)
    ids = [v for v in config.run_variants(resolved) if v.startswith("trees")]
    assert ids == ["trees-bdt_max_depth_2-bdt_learning_rate_0p05", "trees-bdt_max_depth_4-bdt_learning_rate_0p05"]
    assert config.model_spec(resolved, "iris", ids[1])["bdt"]["max_depth"] == 4


@pytest.mark.parametrize(
    "variant, message",
    [
        ({"method": "bdt", "dropout": 0.5}, "variants.x.dropout: not a setting of method 'bdt'"),
        ({"bdt": {"max_depth": 2}}, "variants.x.bdt: not a setting of method 'mlp'"),
        ({"method": "fisher", "knn": {}}, "variants.x.knn: not a setting of method 'fisher'"),
        ({"method": "bdt", "sweep": {"bdt.depth": [2]}}, "variants.x.sweep.bdt.depth: unknown model key"),
        ({"method": "bdt", "sweep": {"bdt.max_depth": [0]}}, "variants.x.sweep.bdt.max_depth[0]: 0 is less than"),
        (
            {"method": "bdt", "bdt": {"max_depth": 2}, "sweep": {"bdt.max_depth": [3]}},
            "variants.x.sweep.bdt.max_depth: also set outside the sweep",
        ),
        ({"method": "knn", "knn": {"n_neighbors": 0}}, "variants.x.knn.n_neighbors: 0 is less than the minimum of 1"),
    ],
)
def test_method_settings_mistakes_are_named(params, variant, message):
    params["variants"]["x"] = variant
    params["run"]["variants"].append("x")
    assert error_of(params).startswith(message)


def test_the_method_rule_leaves_out_what_a_method_does_not_take_and_says_when_nothing_is_left(params):
    params["variants"]["knn"] = {"method": "knn"}
    params["variants"]["likelihood"] = {"method": "likelihood"}
    params["datasets"]["wave"] = {"loader": "regression_toy", "options": {}, "preprocess": {}, "model": {}}
    params["run"] = {"datasets": ["digits", "wave", "iris"], "variants": ["baseline", "knn", "likelihood"]}
    resolved = config.validate_params(params)
    assert config.left_out(resolved) == [
        ("digits", "knn", "images"),
        ("digits", "likelihood", "images"),
        ("wave", "likelihood", "regression"),
    ]
    assert config.dataset_variants(resolved, "wave") == ["baseline", "knn"]
    params["run"]["variants"] = ["knn"]
    assert error_of(params).startswith(
        "run.datasets: no variant of the run applies to dataset 'digits' (method knn does not run on images)"
    )
    params["run"] = {"datasets": ["digits"], "variants": ["baseline", "likelihood"]}
    assert error_of(params).startswith("run.variants: 'likelihood' applies to no dataset of the run")


def _apply(params: dict, **changes) -> dict:
    params["apply"]["hep_mc"].update(changes)
    return params


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"dataset": "hepp"}, "apply.hep_mc.dataset: unknown dataset 'hepp' (defined in datasets: digits, gaussians,"),
        ({"variants": ["baseline", "bdtt"]}, "apply.hep_mc.variants[1]: unknown variant 'bdtt' (defined in variants:"),
        (
            {"files": ["a/x.root", "b/x.root"], "processes": {}},
            "apply.hep_mc.files: two files would both be scored into x.root",
        ),
        (
            {"processes": {"signal.root": "signal", "sig.root": "signal"}},
            "apply.hep_mc.processes.sig.root: 'sig.root' is not one of the set's files (signal.root, background.root)",
        ),
        ({"data": ["signal.root"]}, "apply.hep_mc.data: 'signal.root' is data and a simulated process at once"),
        ({"files": []}, "apply.hep_mc.files: [] should be non-empty"),
    ],
    ids=["dataset", "variant", "two names", "process of no file", "data and process", "no files"],
)
def test_apply_block_mistakes_are_named(params, changes, message):
    assert error_of(_apply(params, **changes)).startswith(message)


def test_an_apply_set_whose_dataset_or_variants_the_run_leaves_out_is_left_out_and_said(params):
    resolved = config.validate_params(params)
    assert list(config.apply_sets(resolved)) == ["hep_mc"] and config.apply_left_out(resolved) == []
    params["run"]["datasets"] = ["iris"]
    assert config.apply_left_out(config.validate_params(copy.deepcopy(params))) == [
        ("hep_mc", "dataset hep is not in the run")
    ]
    params["run"] = {"datasets": ["hep"], "variants": ["baseline"]}
    resolved = config.validate_params(params)
    assert config.apply_sets(resolved) == {}
    assert config.apply_left_out(resolved) == [("hep_mc", "bdt not trained on hep in the run")]


def test_a_configfile_clears_a_block_with_null_and_an_empty_mapping_that_merges_nothing_is_refused(tmp_path):
    """Files merged over params.yaml merge mappings key by key: `gates: {}` would change nothing, so it is refused
    with the way to clear (`gates: null`), which clears; in params.yaml itself an empty mapping is a block."""
    write(tmp_path, "empty.yaml", "seed: 1\ngates: {}\n")
    with pytest.raises(config.ParamsError, match=r"empty\.yaml:2: gates: \{\} merges nothing .* write `gates: null`"):
        config.load_params([ROOT / "params.yaml", tmp_path / "empty.yaml"])
    write(tmp_path, "variants.yaml", "variants: {}\n")
    with pytest.raises(config.ParamsError, match=r"variants: \{\} merges nothing .*; leave it out"):
        config.load_params([ROOT / "params.yaml", tmp_path / "variants.yaml"])
    write(tmp_path, "clear.yaml", "gates: null\napply: null\n")
    cleared = config.load_params([ROOT / "params.yaml", tmp_path / "clear.yaml"])
    assert cleared["gates"] == {} and cleared["apply"] == {} and cleared["expected_yields"]
    alone = load_default_params() | {"gates": {}}
    write(tmp_path, "params.yaml", yaml.safe_dump(alone))
    assert config.load_params(tmp_path / "params.yaml")["gates"] == {}


def test_a_variants_blocks_change_the_datasets_key_by_key(params):
    """A variant's event_weights (like its early stopping or a method's block) changes what it names and keeps
    the rest of the dataset's: the BDT that ignores negative weights still balances the classes."""
    params["datasets"]["hep"]["model"]["event_weights"] = {"balance_classes": True}
    params["datasets"]["hep"]["model"]["early_stopping"] = {"patience": 7, "min_delta": 0.01}
    params["datasets"]["hep"]["model"]["lr_schedule"] = {"kind": "cosine", "alpha": 0.1}
    params["variants"]["bdt"]["event_weights"] = {"negative": "ignore"}
    params["variants"]["patient"] = {"early_stopping": {"patience": 3}, "lr_schedule": {"kind": "step", "every": 5}}
    params["run"]["variants"] = ["baseline", "bdt", "patient"]
    resolved = config.validate_params(params)
    assert config.model_spec(resolved, "hep", "bdt")["event_weights"] == {"negative": "ignore", "balance_classes": True}
    spec = config.model_spec(resolved, "hep", "patient")
    assert spec["early_stopping"]["patience"] == 3 and spec["early_stopping"]["min_delta"] == 0.01
    assert spec["lr_schedule"]["kind"] == "step" and "alpha" not in spec["lr_schedule"]  # another kind: whole


def test_a_runs_settings_in_one_line_for_the_method_comparison():
    """What the page's method comparison states beside each method: the BDT's TMVA-like defaults key by key, the
    MLP's main keys, and the event-weight policy."""
    from mlbasics.methods import registry

    params = config.load_params("params.yaml")
    assert registry.describe(config.model_spec(params, "hep", "bdt")) == (
        "max_iter 1000, learning_rate 0.1, max_depth 2, max_leaf_nodes null, min_samples_leaf 0.05, "
        "l2_regularization 0.0, max_bins 20, max_features 1.0, early_stopping {patience: 20, tol: 1e-07}, "
        "event weights (where the data has them): negative ones ignore, classes balanced"
    )
    assert registry.describe(config.model_spec(params, "hep", "dropout")).startswith(
        "hidden_layers [32, 32], activation relu, optimizer adam, learning_rate 0.001, epochs 200, batch_size 64, "
        "dropout 0.5, l2 0.0, early_stopping {patience: 10, min_delta: 0.0, restore_best_weights: true}"
    )
