"""painterly batch on Ray: one local cluster for the module (ray.init(num_cpus=2)), the same
results as a local batch, a corrupt photo among good ones, a worker killed mid-item and a
driver killed mid-batch; nothing lost and nothing done twice."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from painterly import batch, cli
from tests.test_batch import FAST, kill_driver_and_resume, make_photos, records

ray = pytest.importorskip("ray", reason="painterly[cluster]")
pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def cluster():
    """A local Ray cluster; batches in this process find it initialised and use it."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def test_ray_gives_the_local_results_and_records_a_corrupt_photo(cluster, tmp_path, capsys):
    make_photos(tmp_path / "in", 4)
    (tmp_path / "in" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 cut short")
    local, remote = tmp_path / "local", tmp_path / "ray"
    argv = ["batch", str(tmp_path / "in"), *FAST, "--model", "the_scream"]
    assert cli.main([*argv, "-o", str(local)]) == 1
    capsys.readouterr()
    assert cli.main([*argv, "-o", str(remote), "--ray", "auto", "--workers", "2"]) == 1
    assert capsys.readouterr().err.count("failed: ") == 2  # corrupt.jpg × each model
    done = {r["key"]: r for r in records(remote)}
    assert len(done) == 10 and sum(r["status"] == "done" for r in done.values()) == 8
    assert len({r["worker"] for r in done.values()}) == 2  # both actors worked
    for key, record in done.items():
        if record["status"] == "done":
            # the same up to float rounding: the actors run one thread each, this process
            # two, and ONNX Runtime's sums then round differently in a value or two
            ours = np.asarray(Image.open(remote / key)).astype(int)
            diff = np.abs(ours - np.asarray(Image.open(local / key)).astype(int))
            assert diff.max() <= 1 and np.count_nonzero(diff) <= diff.size // 1000, key
        else:
            assert key.startswith("corrupt__") and not (remote / key).exists()


def _kill_a_working_actor(killed: list[int], deadline: float) -> None:
    """SIGKILL the first Ray worker process seen running an item (its title is
    ray::BatchWorker.run while it does)."""
    while time.time() < deadline and not killed:
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                title = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if title.startswith(b"ray::BatchWorker.run"):
                os.kill(int(pid), signal.SIGKILL)
                killed.append(int(pid))
                return
        time.sleep(0.01)


def test_a_worker_killed_mid_item_is_replaced_and_the_item_done(cluster, tmp_path, images):
    make_photos(tmp_path / "in", 5, side=40)
    out = tmp_path / "out"
    killed: list[int] = []
    killer = threading.Thread(target=_kill_a_working_actor, args=(killed, time.time() + 120))
    killer.start()
    argv = [
        "batch",
        str(tmp_path / "in"),
        "-o",
        str(out),
        "--style",
        str(images["the_scream"]),
        "--size",
        "32",
        "--steps",
        "20",
        "--ray",
        "auto",
        "-q",
    ]
    code = cli.main(argv)
    killer.join()
    assert killed and code == 0
    done = records(out)
    assert sorted(r["key"] for r in done) == [f"photo{n:04d}__the_scream.png" for n in range(5)]
    assert all(r["status"] == "done" for r in done)


def test_a_killed_driver_resumes_on_the_cluster(cluster, tmp_path, images):
    kill_driver_and_resume(tmp_path, images, ["--ray", cluster])


def test_ray_refuses_a_worker_larger_than_any_node(cluster, tmp_path, capsys):
    (photo,) = make_photos(tmp_path / "in", 1)
    argv = ["batch", str(photo), "-o", str(tmp_path / "out"), *FAST, "--ray", "auto"]
    assert cli.main([*argv, "--worker-cpus", "4"]) == 2
    assert "the largest node has 2 CPUs" in capsys.readouterr().err
    assert cli.main([*argv, "--workers", "3"]) == 2  # three 1-CPU actors on 2 CPUs
    assert "room for 2 worker(s) of 1 CPU(s)" in capsys.readouterr().err
    assert not batch.Manifest(tmp_path / "out").path.exists()
