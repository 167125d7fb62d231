"""The `zoo` command called in-process: ``cli(*argv) -> (exit status, stdout, stderr)``."""

from __future__ import annotations

import pytest

from zoo.cli import main


@pytest.fixture
def cli(capsys):
    def run(*argv):
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run
