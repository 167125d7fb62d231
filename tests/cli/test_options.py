"""``zoo.cli.options``: the shared options are the same in every command that takes them."""

from __future__ import annotations

import pytest

from zoo.cli import build_parser, options

BATCH_SIZE_ZERO = [
    ["train", "mnist_cnn", "--data", "digits", "--batch-size", "0"],
    ["eval", "mnist_cnn", "--data", "digits", "--weights", "digits", "--batch-size", "0"],
    ["predict", "mnist_cnn", "--weights", "digits", "x.png", "--batch-size", "0"],
    ["verify", "--metrics", "mnist_cnn.digits", "--batch-size", "0"],
]


@pytest.mark.parametrize("argv", BATCH_SIZE_ZERO, ids=lambda argv: argv[0])
def test_batch_size_0_is_refused_the_same_way_everywhere(cli, tmp_path, monkeypatch, argv):
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(*argv)
    assert code == options.EXIT_USER_ERROR and out == "" and err.count("\n") == 1
    assert err.startswith(f"zoo: error: --batch-size 0 is not valid: expected at least 1 (see `zoo {argv[0]} --help`)"), err
    assert list(tmp_path.iterdir()) == []  # refused before anything ran


def test_export_takes_no_batch_size(cli):
    """The traced example batch is fixed (2; torch.export specialises sizes 0 and 1), so there is no option to refuse."""
    code, _, err = cli("export", "mnist_cnn", "--batch-size", "0")
    assert code == options.EXIT_USER_ERROR and "unrecognized arguments: --batch-size 0" in err


@pytest.mark.parametrize("argv", [
    ["train", "m", "--data", "d"], ["eval", "m", "--data", "d"], ["predict", "m", "x.png"],
    ["luna", "analyze", "scan.mhd"], ["luna", "validate"],
], ids=lambda argv: " ".join(argv[:2]))
def test_device_defaults_to_auto(argv):
    assert build_parser().parse_args(argv).device == "auto"


def test_verify_keeps_the_cpu_for_exact_metrics_and_says_so(capsys):
    assert build_parser().parse_args(["verify", "--metrics"]).device == "cpu"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["verify", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "the CPU (the default, unlike other commands) re-verifies exactly" in help_text


def test_json_is_a_flag_everywhere():
    parser = build_parser()
    for argv in (["list"], ["datasets"], ["plugins"], ["eval", "m", "--data", "d"], ["predict", "m", "x"],
                 ["verify"], ["luna", "analyze", "s.mhd"], ["luna", "validate"]):
        assert parser.parse_args([*argv, "--json"]).json is True, argv


def test_key_value_reads_json_values():
    assert options.key_value("n_feature=32") == ("n_feature", 32)
    assert options.key_value("name=abc") == ("name", "abc")
    assert options.key_value("sizes=[1, 2]") == ("sizes", [1, 2])
