"""``painterly serve`` (web/__init__.py): options, one-line errors, a busy port, the data dir."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from painterly import cli
from painterly.errors import InputError
from painterly.web import default_data_dir, serve_main


@pytest.mark.parametrize(
    "argv",
    [
        ["--port", "70000"],
        ["--max-upload-mb", "0"],
        ["--max-clip-seconds", "0"],
        ["--max-clip-frames", "-1"],
        ["--max-clip-mb", "nan"],
        ["--workers", "0"],
        ["--token", "short"],
        ["--bogus"],
        ["--port", "many"],
    ],
)
def test_serve_refuses_bad_options(argv, tmp_path):
    with pytest.raises(InputError):
        serve_main([*argv, "--data-dir", str(tmp_path)])


def test_serve_errors_are_one_line_and_exit_2(tmp_path, capsys):
    assert cli.main(["serve", "--port", "70000", "--data-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_a_busy_port_is_a_clear_error(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        with pytest.raises(InputError, match="cannot listen"):
            serve_main(["--port", str(port), "--data-dir", str(tmp_path)])


def test_the_default_data_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_data_dir() == tmp_path / "painterly" / "studio"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_data_dir() == Path.home() / ".local" / "share" / "painterly" / "studio"
