"""``zoo list``, ``datasets``, ``info``, ``plugins`` (zoo/cli/listing.py)."""

from __future__ import annotations

import dataclasses
import json
import re

from zoo.cli.listing import fit, fit_items
from zoo.plugins import get_registry


def test_list_and_datasets(cli):
    code, out, _ = cli("list")
    assert code == 0 and "mnist_cnn" in out and "digits" in out
    code, out, _ = cli("list", "mnist_c*", "--json")
    assert [m["name"] for m in json.loads(out)] == ["mnist_cnn"]
    code, out, _ = cli("datasets", "--json")
    assert {"digits", "mnist"} <= {d["name"] for d in json.loads(out)}
    code, out, _ = cli("datasets")
    assert code == 0 and any(line.split()[:1] == ["imagefolder"] and " any " in line for line in out.splitlines())


def test_list_fits_an_80_column_terminal(cli, monkeypatch):
    """Long weight lists and descriptions are cut with an ellipsis; the columns stay aligned; --json keeps all."""
    monkeypatch.setenv("COLUMNS", "80")
    registry = get_registry()
    spec = registry.models["mnist_cnn"]
    many = {f"tag{i}": w for i, w in enumerate(list(spec.weights.values()) * 10)}
    monkeypatch.setitem(registry.models, "mnist_cnn", dataclasses.replace(spec, weights=many, description="a long story " * 20))
    code, out, _ = cli("list")
    lines = out.splitlines()
    assert code == 0 and max(map(len, lines)) <= 80, out
    row = next(line for line in lines if line.startswith("mnist_cnn "))
    assert re.search(r" tag0,tag1,(tag\d+,)*…\+\d+ ", row) and row.endswith("…"), row
    assert lines[0].split()[:3] == ["model", "task", "weights"]
    starts = [lines[0].index(column) for column in ("task", "weights", "description")]
    assert all(line[i - 1] == " " and line[i] != " " for line in lines[1:] for i in starts), out  # aligned
    code, out, _ = cli("list", "mnist_cnn", "--json")
    assert json.loads(out)[0]["weights"] == list(many)


def test_fit_and_fit_items():
    assert fit("short", 10) == "short" and fit("a  much\nlonger text", 10) == "a much lo…"
    assert fit_items(["digits", "fashion", "fashion_wide"], 30) == "digits,fashion,fashion_wide"
    assert fit_items(["digits", "fashion", "fashion_wide"], 20) == "digits,fashion,…+1"
    assert fit_items(["a_very_long_tag"], 8) == "…+1" and fit_items([], 8) == "-"


def test_info_shows_shapes_weights_and_parameters(cli):
    code, out, _ = cli("info", "mnist_cnn", "-k", "n_feature=32")
    assert code == 0 and "Input: float32 [N, 1, 28, 28]" in out and "Parameters: 52,624" in out
    assert "Multiply-adds: 2,125,300 per [1, 28, 28] input" in out
    assert "digits [default]: trained on digits; test split: accuracy=0.98" in out


def test_info_names_the_default_weights_figures_beside_the_builder_default(cli):
    code, out, _ = cli("info", "mnist_cnn")
    assert code == 0 and "Builder default: Parameters: 6,422;" in out and "mean [0.1307]" in out
    assert "Default weights mnist_cnn.digits (n_feature=32): Parameters: 52,624;" in out


def test_info_of_arch_dot_tag_describes_those_weights(cli):
    code, out, _ = cli("info", "mnist_cnn.fashion")
    assert code == 0 and "Weights mnist_cnn.fashion (n_feature=48): Parameters: 97,856;" in out
    assert "mean [0.286], std [0.353]" in out and "classes (10): T-shirt/top, Trouser" in out
    assert "trained with: zoo train mnist_cnn --data fashion_mnist" in out and "accuracy=0.9196" in out
    code, out, _ = cli("info", "mnist_cnn.fashion", "--json")
    described = json.loads(out)
    assert described["weights"]["parameters"] == 97_856 and described["builder_default"]["parameters"] == 6_422
    assert described["weights"]["preprocessing"]["mean"] == [0.286] and described["weights"]["metrics"]["split"] == "test"


def test_info_of_an_unknown_tag_is_one_line(cli):
    code, _, err = cli("info", "mnist_cnn.nope")
    assert code == 2 and "model 'mnist_cnn' has no weights 'nope'" in err and len(err.strip().splitlines()) == 1


def test_plugins_json(cli):
    code, out, _ = cli("plugins", "--json")
    plugins = {p["name"]: p for p in json.loads(out)}
    assert plugins["zoo.families.mnist"]["models"] == ["mnist_cnn", "mnist_mlp"] and plugins["zoo.families.mnist"]["error"] is None
