"""ROOT itself as the client of apply's friend files (`pip install root`: ROOT with RDataFrame and TTree): the
pipeline's friend tree is added to the input tree with `AddFriend`, and RDataFrame reads the scores beside the
original branches, entry by entry as uproot reads them, with the selection and the sentinel where documented."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest
import uproot

from mlbasics.params import config
from tests.helpers import run

pytestmark = pytest.mark.engine

# run in its own process: ROOT installs signal handlers and an interpreter of its own
READ_WITH_ROOT = textwrap.dedent(
    """
    import sys
    import numpy as np
    import ROOT

    source, friend, out = sys.argv[1:4]
    events = ROOT.TFile.Open(source)
    tree = events.Get("events")
    scores = ROOT.TFile.Open(friend)
    tree.AddFriend(scores.Get("events"), "applied")
    frame = ROOT.RDataFrame(tree)
    columns = frame.AsNumpy(["x1", "applied.score_baseline", "applied.pass_selection"])
    selected = frame.Filter("applied.pass_selection").Mean("applied.score_baseline").GetValue()
    np.savez(
        out,
        x1=columns["x1"],
        score=columns["applied.score_baseline"],
        passes=columns["applied.pass_selection"].astype(bool),
        mean=selected,
    )
    """
)


def test_root_reads_the_friend_scores_beside_the_input_tree(snakemake_run, tmp_path):
    pytest.importorskip("ROOT", reason="ROOT (pip install root) is the client here")
    cache = snakemake_run / config.load_params(snakemake_run / "params.yaml")["download"]["cache_dir"]
    for name in ("sig.root", "bkg.root"):
        source = cache / "events" / name
        friend = snakemake_run / "data" / "applied" / "events_mc" / name
        out = tmp_path / f"{name}.npz"
        run([sys.executable, "-c", READ_WITH_ROOT, str(source), str(friend), str(out)], cwd=tmp_path)
        ours = uproot.open(friend)["events"].arrays(library="np")
        original = uproot.open(source)["events"]["x1"].array(library="np")
        with np.load(out) as root:
            assert np.array_equal(root["x1"], original), "RDataFrame walked the input tree in entry order"
            assert np.array_equal(root["score"], ours["score_baseline"]), name
            assert np.array_equal(root["passes"], ours["pass_selection"]), name
            assert (root["score"][~root["passes"]] == -999).all() and (~root["passes"]).any()
            assert float(root["mean"]) == pytest.approx(float(ours["score_baseline"][ours["pass_selection"]].mean()))
