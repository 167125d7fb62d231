"""zoo.reverify and `zoo verify --metrics`: the shipped weights' recorded numbers hold, bad entries fail with one line.

CI re-checks every shipped entry whose data ships with the project (digits, reviews) and the
Fashion-MNIST ones where that data is installed; the synthetic LUNA16 entries are in `make verify`.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from zoo.cli import main
from zoo.errors import DataError, ZooError
from zoo.plugins import get_registry
from zoo.reverify import check_publishable, format_table, verify_entry, verify_metrics
from zoo.weights import MANIFEST_METRICS, read_manifest, shipped_manifest_path

#: Shipped entries whose data is written by the project or ships with it: cheap enough for every CI run.
CHEAP = ("mnist_cnn.digits", "mnist_mlp.digits", "lstm_sentiment.reviews")


def _shipped(name: str):
    arch, tag = name.split(".")
    return get_registry().model(arch).weights[tag]


def _fashion_here() -> bool:
    try:
        get_registry().dataset("fashion_mnist").resolve_factory()(split="test", root=None)
    except (DataError, FileNotFoundError, ImportError):
        return False
    return True


@pytest.mark.slow
def test_every_cheap_shipped_entry_reverifies():
    shipped = read_manifest(shipped_manifest_path())
    names = [n for n in shipped if n in CHEAP or (shipped[n].dataset == "fashion_mnist" and _fashion_here())]
    results = verify_metrics(names)
    assert [r.entry for r in results] == names
    for result in results:
        assert result.status == "ok", f"{result.entry}: {result.reason}\n{format_table([result])}"
        assert {c.metric for c in result.checks} == set(MANIFEST_METRICS)


def test_a_drifted_number_fails_and_names_the_metric():
    spec = _shipped("mnist_mlp.digits")
    drifted = dataclasses.replace(spec, metrics={**spec.metrics, "accuracy": spec.metrics["accuracy"] + 1 / 359})
    result = verify_entry(drifted)
    assert result.status == "failed"
    bad = [c for c in result.checks if not c.ok]
    assert [c.metric for c in bad] == ["accuracy"] and bad[0].difference == pytest.approx(-1 / 359)
    assert "FAILED" in format_table([result])


@pytest.mark.parametrize("change, expected", [
    ({"dataset": ""}, "names no dataset"),
    ({"metrics": {"accuracy": 0.9}}, "names no split"),
    ({"sha256": "0" * 64}, "sha256"),
    ({"metrics_extra": {"num_samples": 1000}}, "has 359 samples here, but the metrics were recorded on 1000"),
])
def test_bad_entries_are_errors_with_one_line(change, expected):
    spec = _shipped("mnist_mlp.digits")
    extra = change.pop("metrics_extra", None)
    if extra:
        change["metrics"] = {**spec.metrics, **extra}
    result = verify_entry(dataclasses.replace(spec, **change))
    assert result.status == "error" and expected in result.reason and "\n" not in result.reason


def test_data_not_here_is_skipped_never_passed():
    spec = dataclasses.replace(_shipped("mnist_mlp.digits"), dataset="cifar10")  # no CIFAR-10 files in the isolated home
    result = verify_entry(spec)
    assert result.status == "skipped" and "not available here" in result.reason and not result.checks


def test_the_users_image_folders_are_remeasured_as_zoo_eval_measures_them(tmp_path):
    """Colour 56x56 images for a grey 28x28 model: both go through the weights' preprocessing (verify did not)."""
    import numpy as np
    from PIL import Image

    from zoo.reverify import evaluate_registered, remeasure

    for split in ("train", "test"):
        for label in range(10):
            (tmp_path / split / str(label)).mkdir(parents=True)
            pixels = np.random.default_rng(label).integers(0, 256, (56, 56, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / split / str(label) / "a.png")
    report, _ = evaluate_registered("mnist_mlp", "imagefolder", weights="digits", split="test", root=str(tmp_path),
                                    progress=False)
    recorded = {"split": "test", **{metric: report[metric] for metric in MANIFEST_METRICS}}
    result = remeasure("mnist_mlp", "digits", "imagefolder", recorded, entry="mnist_mlp.digits", root=str(tmp_path),
                       class_names=_shipped("mnist_mlp.digits").class_names)
    assert result.status == "ok" and result.num_samples == 10, result.reason


def test_cli_table_json_and_exit_codes(capsys, monkeypatch):
    assert main(["verify", "--metrics", "mnist_cnn.digits"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"mnist_cnn\.digits\s+accuracy\s+0\.980501\s+0\.980501\s+\+0\.00e\+00\s+ok", out)
    assert main(["verify", "--metrics", "mnist_cnn.digits", "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["status"] == "ok" and row["num_samples"] == 359 and len(row["checks"]) == len(MANIFEST_METRICS)

    weights = get_registry().model("mnist_cnn").weights
    monkeypatch.setitem(weights, "digits", dataclasses.replace(weights["digits"], metrics={"accuracy": 0.98}))
    assert main(["verify", "--metrics", "mnist_cnn.digits"]) == 3  # a check found a problem
    err = capsys.readouterr().err
    assert err.strip() == "zoo: error: mnist_cnn.digits: the entry names no split (metrics.split); nothing to re-evaluate"
    assert main(["verify", "--metrics", "mnist_cnn.nosuch"]) == 2
    assert "has no weights 'nosuch'" in capsys.readouterr().err


def test_publish_refuses_weights_that_do_not_reverify(tmp_path, monkeypatch):
    from zoo.hub import stage

    pytest.importorskip("huggingface_hub")
    spec = _shipped("mnist_mlp.digits")
    assert check_publishable("mnist_mlp", "digits", spec.dataset, spec.metrics).status == "ok"
    weights = get_registry().model("mnist_mlp").weights
    monkeypatch.setitem(weights, "digits", dataclasses.replace(spec, metrics={**spec.metrics, "f1": 0.5}))
    with pytest.raises(ZooError, match="refusing to publish mnist_mlp.digits: its recorded metrics do not re-verify"):
        stage("mnist_mlp", "digits", tmp_path / "refused")
    card = (stage("mnist_mlp", "digits", tmp_path / "unchecked", verify=False) / "README.md").read_text()
    assert "**not** re-evaluated before publishing (published with `--no-verify`)" in card


# ------------------------------------------------------------------ README figures come from the manifest

_FIGURE = re.compile(r"`(\w+)` \(default[^)]*\): (Dice )?(\d\.\d+)")


def _readme_figures(text: str) -> list[tuple[str, str, str]]:
    """``(arch.tag, metric, quoted figure)`` for every shipped-weights figure in README.md's tables: the
    weights tables (a `` `arch.tag` `` row with a "test accuracy" column) and the model table's weights cell."""
    figures, accuracy_col = [], None
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if not cells:
            accuracy_col = None
            continue
        if "test accuracy" in cells:
            accuracy_col = cells.index("test accuracy")
        first = re.fullmatch(r"`(\w+\.\w+)`", cells[0])
        if first and accuracy_col is not None:
            figures.append((first.group(1), "accuracy", cells[accuracy_col]))
        arch = re.match(r"`(\w+)`", cells[0])
        quoted = _FIGURE.search(cells[-1])
        if arch and quoted:
            figures.append((f"{arch.group(1)}.{quoted.group(1)}", "dice" if quoted.group(2) else "accuracy", quoted.group(3)))
    return figures


def test_readme_figures_equal_the_manifest(repo):
    shipped = read_manifest(shipped_manifest_path())
    figures = _readme_figures((repo / "README.md").read_text())
    assert {"mnist_cnn.fashion", "luna_unet.synthetic", "lstm_sentiment.movies"} <= {f[0] for f in figures}
    for name, metric, quoted in figures:
        assert name in shipped, f"README quotes {quoted} for {name}, which the shipped manifest lacks"
        decimals = len(quoted.split(".")[1])
        recorded = f"{shipped[name].metrics[metric]:.{decimals}f}"
        assert quoted == recorded, f"README quotes {metric} {quoted} for {name}; the manifest has {recorded}"


def test_readme_figure_parser_reads_both_tables():
    text = ("| weights | parameters | test accuracy | cmd |\n|---|---:|---:|---|\n| `a.b` | 1 | 0.91 | `x` |\n\n"
            "| model | task | weights |\n|---|---|---|\n| `c` | seg | `d` (default): Dice 0.5 on it |\n")
    assert _readme_figures(text) == [("a.b", "accuracy", "0.91"), ("c.d", "dice", "0.5")]


def test_entries_trained_with_amp_are_remeasured_under_autocast():
    from zoo.reverify import trained_with_amp

    assert trained_with_amp(_shipped("luna_unet.synthetic").training)  # its Dice moves in the 5th digit in fp32
    assert not trained_with_amp(_shipped("mnist_cnn.digits").training)
    assert not trained_with_amp({"command": "zoo train x --ampere"}) and not trained_with_amp(None)


# ------------------------------------------------------------------ the text weights trained on real sentences

REAL_SNIPPETS = Path(__file__).resolve().parent.parent / "data"


@pytest.mark.parametrize("entry", ["lstm_sentiment.movies", pytest.param("bert_classifier.movies", marks=pytest.mark.slow)])
def test_the_sentiment_snippets_entries_reverify_when_the_data_is_here(entry, monkeypatch):
    if not (REAL_SNIPPETS / "vaderSentiment-3.3.2.tar.gz").is_file():
        pytest.skip(f"the vaderSentiment sdist is not in {REAL_SNIPPETS}: `make` fetches it")
    monkeypatch.setenv("ZOO_DATA", str(REAL_SNIPPETS))
    (result,) = verify_metrics([entry])
    assert result.status == "ok", f"{result.entry}: {result.reason}\n{format_table([result])}"
    assert result.num_samples == 2_113 and {c.metric for c in result.checks} == set(MANIFEST_METRICS)
