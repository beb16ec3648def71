"""The driver: a job's Progress stream turned into intermediates, checkpoints and a result."""

import pytest
import torch
from PIL import Image

from painterly import api, checkpoint, io
from painterly.curves import History
from painterly.driver import Driver, Plan
from painterly.errors import InputError, NumericsError
from painterly.inputs import Inputs
from painterly.settings import Settings


@pytest.fixture
def job(images, extractor):
    inputs = Inputs.of(str(images["tubingen"]), str(images["starry_night"]))
    return api.prepare(inputs, Settings(size=40, steps=6, seed=0), extractor=extractor)


def test_a_run_writes_intermediates_checkpoints_and_the_result(job, tmp_path, monkeypatch):
    out, ck = tmp_path / "out.png", tmp_path / "run.ckpt"
    saved_at = []
    real_save = checkpoint.save
    monkeypatch.setattr(
        checkpoint, "save", lambda path, c: (saved_at.append(c.state.step), real_save(path, c))
    )
    plan = Plan(out, save_every=2, checkpoint=ck, checkpoint_every=3)
    steps = []
    outcome = Driver(job, plan).run(lambda p: steps.append(p.step))
    assert outcome.state == "done" and outcome.last.step == 6 and steps == [1, 2, 3, 4, 5, 6]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "out.png",
        "out_step00002.png",
        "out_step00004.png",
    ]  # the last step is the result, not an intermediate; the checkpoint is gone
    assert saved_at == [3]
    assert io.read_metadata(out)["settings"]["seed"] == 0


def test_a_stop_ends_after_the_step_with_a_checkpoint_of_it(job, tmp_path):
    out, ck = tmp_path / "out.png", tmp_path / "run.ckpt"
    driver = Driver(job, Plan(out, checkpoint=ck))
    outcome = driver.run(should_stop=lambda: driver.last.step == 4)
    assert outcome.state == "stopped" and outcome.last.step == 4 and not out.exists()
    saved = checkpoint.load(ck)
    assert saved.state.step == 4 and saved.inputs == job.inputs
    assert list(saved.checksums) == job.inputs.files()
    assert driver.save_partial() == out and io.read_metadata(out)["stopped_at_step"] == 4

    resumed = Driver(job, Plan(out, checkpoint=ck), resume=saved.state)
    steps = []
    assert resumed.run(lambda p: steps.append(p.step)).last.step == 6 and not ck.exists()
    assert steps == [5, 6]  # continued, not restarted
    with pytest.raises(InputError, match="already finished"):
        Driver(job, Plan(out, checkpoint=ck), resume=resumed.last.state()).run()


def test_a_diverging_run_writes_nothing(job, tmp_path, monkeypatch):
    def nan_after_two(self, resume=None):
        for progress in real_run(self, resume):
            if progress.step == 3:
                raise NumericsError("the loss became nan")
            yield progress

    real_run = api.Job.run
    monkeypatch.setattr(api.Job, "run", nan_after_two)
    driver = Driver(job, Plan(tmp_path / "out.png"))
    with pytest.raises(NumericsError):
        driver.run()
    assert driver.last.step == 2 and list(tmp_path.iterdir()) == []


def test_a_plan_refuses_impossible_intervals(tmp_path):
    with pytest.raises(InputError, match="checkpoint_every=0"):
        Plan(tmp_path / "o.png", checkpoint_every=0)
    with pytest.raises(InputError, match="save_every=-1"):
        Plan(tmp_path / "o.png", save_every=-1)


def test_the_result_is_the_last_image(job, tmp_path):
    out = tmp_path / "out.png"
    outcome = Driver(job, Plan(out, metadata={"note": "x"})).run()
    assert io.read_metadata(out) == {"note": "x"}
    expected = io.load_image(io.to_pil(outcome.last.image()))
    assert torch.equal(io.load_image(out), expected)


def test_the_history_has_every_step_and_the_plot_follows_the_result(job, tmp_path):
    out, plot = tmp_path / "out.png", tmp_path / "curves.png"
    driver = Driver(job, Plan(out, plot=plot))
    driver.run()
    history = driver.history
    assert [p.step for p in history.points] == [1, 2, 3, 4, 5, 6]
    assert all(set(p.losses) >= {"content", "style", "tv", "total"} for p in history.points)
    assert history.points[-1].losses == driver.last.losses
    assert [size for _, _, size in history.scales] == [tuple(s.size) for s in job.stages]
    assert out.exists() and Image.open(plot).format == "PNG"


def test_a_stop_writes_the_curves_so_far_and_a_resume_continues_them(job, tmp_path):
    out, ck, plot = tmp_path / "out.png", tmp_path / "run.ckpt", tmp_path / "curves.png"
    driver = Driver(job, Plan(out, checkpoint=ck, plot=plot))
    driver.run(should_stop=lambda: driver.last.step == 4)
    assert not plot.exists()  # only the result or save_partial plots
    driver.save_partial()
    assert Image.open(plot).size == (800, 450)
    saved = checkpoint.load(ck)
    assert History.from_dict(saved.history) == driver.history and len(driver.history) == 4

    history = History.from_dict(saved.history)
    resumed = Driver(job, Plan(out, checkpoint=ck, plot=plot), resume=saved.state, history=history)
    resumed.run()
    assert [p.step for p in resumed.history.points] == [1, 2, 3, 4, 5, 6]


def test_no_plot_without_a_step_or_a_plan(job, tmp_path):
    assert Driver(job, Plan(tmp_path / "o.png", plot=tmp_path / "c.png")).save_plot() is None
    assert Driver(job, Plan(tmp_path / "o.png")).save_plot() is None
    assert list(tmp_path.iterdir()) == []
