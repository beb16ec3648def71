"""bench/tiles.py's long print runs continue over several sittings and add up their times."""

from __future__ import annotations

import json
import os
import sys
import time

import pytest

from .conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import tiles  # noqa: E402

WRITE = "import sys, pathlib; pathlib.Path(sys.argv[1]).write_text('done')"


def test_a_sitting_killed_after_a_checkpoint_counts_up_to_it(tmp_path, monkeypatch):
    monkeypatch.setattr(tiles, "POLL", 0.01)
    out, ck, state = tmp_path / "o.png", tmp_path / "run.ckpt", tmp_path / "s.json"
    began = time.time() - 100
    # The bench was killed 100 s into a sitting whose last checkpoint came at 40 s.
    state.write_text(json.dumps({"sittings": [], "running": {"began": began, "rss": 7 << 30}}))
    ck.write_text("state")
    os.utime(ck, (began + 40, began + 40))
    fresh = [sys.executable, "-c", "raise SystemExit('not the resume')"]
    again = [sys.executable, "-c", WRITE, str(out)]
    result = tiles.run_resumable(fresh, out, ck, state, again)
    assert result.sittings == 2 and result.rss == 7 << 30
    assert 40 <= result.wall < 40 + 30  # 40 s to the checkpoint and the short resume
    kept = json.loads(state.read_text())
    assert "running" not in kept and [s["killed"] for s in kept["sittings"]] == [True, False]


def test_a_sitting_killed_before_any_checkpoint_counts_nothing(tmp_path):
    out, ck, state = tmp_path / "o.png", tmp_path / "run.ckpt", tmp_path / "s.json"
    began = time.time() - 100
    state.write_text(json.dumps({"sittings": [], "running": {"began": began, "rss": 1}}))
    result = tiles.run_resumable([sys.executable, "-c", WRITE, str(out)], out, ck, state)
    assert result.sittings == 2 and result.wall < 30  # started over: only the new sitting


def test_a_failed_run_stops_the_bench_with_its_message(tmp_path):
    out, ck, state = tmp_path / "o.png", tmp_path / "run.ckpt", tmp_path / "s.json"
    failing = [sys.executable, "-c", "import sys; sys.exit('error: no such photo')"]
    with pytest.raises(SystemExit, match="no such photo"):
        tiles.run_resumable(failing, out, ck, state)
    assert json.loads(state.read_text())["sittings"][0]["killed"]
