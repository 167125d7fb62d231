"""The user's own data (``zoo/families/user.py``): which preprocessing an image folder gets, and ``imagefolder``
and ``text_csv`` end to end through ``zoo train`` and ``zoo eval``. The two datasets themselves are tested in
tests/datasets/ (test_imagefolder.py, test_text_csv.py)."""

from __future__ import annotations

import json

import pytest

import zoo
from zoo.cli import main

from ..user_data import image_folder, spam_rows, write_csv


def test_the_user_family_registers_both_datasets_with_classes_from_the_data():
    from zoo.plugins import get_registry

    for name, task, factory in (("imagefolder", "classification", "zoo.datasets.imagefolder:imagefolder"),
                                ("text_csv", "text-classification", "zoo.datasets.text_csv:text_csv")):
        spec = get_registry().dataset(name)
        assert (spec.task, spec.factory, spec.num_classes, spec.class_names) == (task, factory, None, None)
        assert "val" in spec.splits  # the trainer validates on the held-out val split


def test_the_model_or_its_weights_decide_the_preprocessing_of_an_image_folder():
    from zoo.api import dataset_preprocessing, describe_weights

    assert dataset_preprocessing("imagefolder", "mnist_cnn") == describe_weights("mnist_cnn", False)["preprocessing"]
    assert dataset_preprocessing("imagefolder", "mnist_cnn", "digits") == describe_weights("mnist_cnn", "digits")["preprocessing"]
    assert dataset_preprocessing("imagefolder", "vgg16_cifar")["channels"] == 3
    assert dataset_preprocessing("digits", "mnist_cnn") is None and dataset_preprocessing("text_csv", "lstm_sentiment") is None


# ------------------------------------------------------------------------------------ end to end


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_train_and_eval_mnist_cnn_on_an_image_folder(tmp_path, capsys):
    root = image_folder(tmp_path / "shapes", {"dark": 12, "light": 12}, size=(16, 20))  # RGB, not 28x28
    run = tmp_path / "run"
    run_cli(capsys, "train", "mnist_cnn", "--data", "imagefolder", "--root", root, "-k", "num_classes=2", "--epochs", "2",
            "--batch-size", "8", "--out", run, "--quiet")
    report = json.loads((run / "report.json").read_text())
    assert report["class_names"] == ["dark", "light"] and report["metrics"]["num_samples"] == 4
    assert "the imagefolder val split" in report["validation"]
    out = run_cli(capsys, "eval", "mnist_cnn", "--data", "imagefolder", "--root", root, "--weights", run / "model.safetensors",
                  "-k", "num_classes=2", "--json")
    assert json.loads(out)["class_names"] == ["dark", "light"]
    assert json.loads(out)["confusion_matrix"] == report["metrics"]["confusion_matrix"]
    # The weights carry the folder names and the preprocessing the images went through (mnist_cnn's: 1x28x28).
    facts = zoo.api.describe_weights(str(run / "model.safetensors"))
    assert facts["class_names"] == ("dark", "light")
    assert facts["preprocessing"] == zoo.api.describe_weights("mnist_cnn", False)["preprocessing"]
    assert facts["preprocessing"]["channels"] == 1 and facts["preprocessing"]["size"] == [28, 28]


@pytest.mark.slow
def test_train_lstm_on_a_csv_file(tmp_path, capsys):
    path = write_csv(tmp_path / "sms.csv", spam_rows(40))
    run = tmp_path / "run"
    run_cli(capsys, "train", "lstm_sentiment", "--data", "text_csv", "--root", path, "--epochs", "2", "--batch-size", "8",
            "-k", "embedding_dim=8", "-k", "hidden_dim=8", "-k", "vocab_size=100", "--out", run, "--quiet")
    report = json.loads((run / "report.json").read_text())
    assert report["class_names"] == ["ham", "spam"] and report["metrics"]["num_samples"] == 8
    assert (run / "tokenizer.json").is_file()
    out = run_cli(capsys, "eval", "lstm_sentiment", "--data", "text_csv", "--root", path, "--weights", run / "model.safetensors", "--json")
    assert json.loads(out)["class_names"] == ["ham", "spam"]
    assert json.loads(out)["confusion_matrix"] == report["metrics"]["confusion_matrix"]
