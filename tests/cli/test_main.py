"""``zoo.cli`` (``main``, the parser, the error boundary): one-line errors and the exit-status table."""

from __future__ import annotations

import re

import pytest

import zoo.cli
from zoo.cli import build_parser, options

TABLE = [(options.EXIT_OK, "done"), (options.EXIT_BUG, "a bug"), (options.EXIT_USER_ERROR, "a user error"),
         (options.EXIT_CHECK_FAILED, "a check found a problem")]


def test_the_exit_status_table_is_documented_in_the_package_and_the_readme(repo):
    assert [code for code, _ in TABLE] == [0, 1, 2, 3]
    readme = (repo / "README.md").read_text()
    for code, words in TABLE:
        assert re.search(rf"^{code}\s+{words}", zoo.cli.__doc__, re.M), (code, words)
        assert f"| {code} | {words}" in readme, (code, words)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["info", "vgg17"], "unknown model 'vgg17'"),
        (["eval", "mnist_cnn", "--data", "digitz"], "unknown dataset 'digitz'.*Did you mean: digits"),
        (["eval", "mnist_cnn", "--data", "digits", "--weights", "imagenet"], "has no weights 'imagenet'"),
        (["eval", "mnist_cnn", "--data", "mnist", "--root", "/nonexistent"], "MNIST not found under /nonexistent"),
        (["train", "mnist_cnn", "--data", "digits", "--device", "tpu"], "unknown device 'tpu'"),
        (["list", "--colour"], "unrecognized arguments: --colour \\(see `zoo --help`\\)"),
        (["predict", "mnist_cnn", "x.png", "--top-k", "two"], "argument --top-k: invalid int value: 'two'"),
    ],
)
def test_errors_are_one_line_and_exit_2(cli, argv, message):
    code, out, err = cli(*argv)
    assert code == options.EXIT_USER_ERROR and err.startswith("zoo: error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert re.search(message, err), err


def test_bad_arguments_exit_2_in_one_line(cli):
    code, out, err = cli("train", "mnist_cnn", "--data", "digits", "-k", "not-a-pair")
    assert code == 2 and err.startswith("zoo: error: ") and err.count("\n") == 1 and "expected KEY=VALUE" in err


def test_positionals_may_follow_options_in_every_command():
    """One parser class for every command, so no sub-command swaps its parser at run time."""
    args = build_parser().parse_args(["predict", "mnist_cnn", "--weights", "digits", "a.png", "--top-k", "2", "b.png"])
    assert (args.name, args.inputs, args.weights, args.top_k) == ("mnist_cnn", ["a.png", "b.png"], "digits", 2)
    args = build_parser().parse_args(["verify", "--metrics", "mnist_cnn.digits", "--atol", "0.1", "lstm_sentiment"])
    assert args.names == ["mnist_cnn.digits", "lstm_sentiment"]
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert {type(p) for p in commands.values()} == {options.Parser}


def test_warnings_are_one_line_on_stderr(cli, monkeypatch):
    import warnings

    from zoo.cli import listing

    def listing_with_a_warning(args):
        warnings.warn("model 'old' (registered by old-plugin): meta={...} is deprecated", FutureWarning)
        return 0

    monkeypatch.setattr(listing, "cmd_list", listing_with_a_warning)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        code, out, err = cli("list")
    assert code == 0 and err == "zoo: warning: model 'old' (registered by old-plugin): meta={...} is deprecated\n"
