"""ONNX: export a model with dynamic height and width, and run ``.onnx`` models with ONNX
Runtime (the ``painterly[onnx]`` extra: onnx, onnxruntime).

The graph holds the network's core only (sides that are multiples of its stride); padding
and cropping stay outside, in :class:`OnnxNet`, so one graph takes every size. The model's
JSON record travels in the ONNX file's metadata (key ``painterly``). An ONNX file is
protobuf data: loading it runs no Python code from the file.
"""

from __future__ import annotations

import abc
import io as _io
import json
import os
import queue
import threading
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from painterly.errors import InputError
from painterly.io import from_array, to_array, write_atomic
from painterly.modelfile import METADATA_KEY, Model, parse_record
from painterly.transform import NetSpec, TransformNet, frame_plan

OPSET = 17
EXTRA = "pip install 'painterly[onnx]'"


class _Core(torch.nn.Module):
    def __init__(self, net: TransformNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.net.core(image)


def export_bytes(model: Model) -> bytes:
    """The model as an ONNX graph (dynamic batch, height and width) with its record."""
    onnx = require("onnx")
    net = model.net
    if not isinstance(net, TransformNet):
        raise InputError(f"{model.source}: already an ONNX model")
    buffer = _io.BytesIO()
    example = torch.rand(1, 3, 64, 64)
    axes = {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter's notes on instance norm and slicing
        torch.onnx.export(
            _Core(net.cpu().eval()).eval(),  # the exporter restores the wrapper's mode
            (example,),
            buffer,
            input_names=["image"],
            output_names=["stylised"],
            dynamic_axes={"image": axes, "stylised": axes},
            opset_version=OPSET,
            dynamo=False,
        )
    graph = onnx.load_from_string(buffer.getvalue())
    entry = graph.metadata_props.add()
    record = {**model.record, "net": net.spec.to_dict()}  # the graph's own description
    entry.key, entry.value = METADATA_KEY, json.dumps(record, sort_keys=True)
    return graph.SerializeToString()


def export(model: Model, path: str | os.PathLike) -> Path:
    """Write the model as an ONNX file, atomically."""
    target = Path(path)
    data = export_bytes(model)
    write_atomic(target, lambda fh: fh.write(data), shared=True)
    return target


class GraphNet(abc.ABC):
    """The exported graph on a runtime, behaving like a :class:`TransformNet` at inference:
    ``(N, 3, H, W)`` in [0, 1] of any size -> the stylised image (CPU float32). The frame
    and the crop are made here, in numpy; a runtime says how to make its lanes and how to
    run one (:meth:`_lanes_of`, :meth:`_infer`). :meth:`stream` paints a sequence of
    frames several at a time, for throughput."""

    def __init__(self, border: int, threads: int | None) -> None:
        self.border, self.threads = border, threads
        self._lanes: queue.SimpleQueue[Any] | None = None
        self._lane_count = 0
        self._lane_lock = threading.Lock()

    @abc.abstractmethod
    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        """One image's stylisation, with every core this runtime was given."""

    @abc.abstractmethod
    def _lanes_of(self, lanes: int, threads: int) -> list[Any]:
        """``lanes`` handles that can run side by side, ``threads`` threads each."""

    @abc.abstractmethod
    def _infer(self, lane: Any, image: np.ndarray) -> np.ndarray:
        """The graph's output for a framed ``(N, 3, H, W)`` array, on one lane."""

    def _run(self, lane: Any, image: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(
            self._framed(lane, image.detach().to("cpu", torch.float32).numpy()).copy()
        )

    def _framed(self, lane: Any, x: np.ndarray) -> np.ndarray:
        """The graph's output for ``(N, 3, H, W)`` float32 ``x``, framed and cropped back
        (the lane's own buffer: copy what is kept before the lane serves anyone else)."""
        x, window = frame_array(x, self.border)
        return self._infer(lane, np.ascontiguousarray(x))[window]

    def _run_pixels(self, lane: Any, rgb: np.ndarray) -> np.ndarray:
        """:meth:`_run` from and to ``(H, W, 3)`` uint8 pixels, in numpy: the same levels
        as ``io.to_array`` of the image's stylisation (rounded, clamped)."""
        x = np.divide(rgb.transpose(2, 0, 1)[None], np.float32(255), dtype=np.float32)
        levels = np.multiply(self._framed(lane, x)[0], np.float32(255))
        np.clip(levels, 0, 255, out=levels)
        return np.ascontiguousarray(np.rint(levels, out=levels).astype(np.uint8).transpose(1, 2, 0))

    def stream(
        self, images: Iterable[torch.Tensor], lanes: int | None = None
    ) -> Iterator[torch.Tensor]:
        """The stylisation of each image, in order, ``lanes`` images at a time, each lane
        with an equal share of the cores (``threads``, or those this process may use). One
        640x360 frame through both cores of a two-core machine leaves them partly idle (its
        layers are small: the threads wait on each other); two frames side by side, one
        core each, made 1.18 to 1.35x the frames per second there on ONNX Runtime
        (docs/fast.md, *Speed*). ``lanes``: None for two where there are two cores or more,
        1 for plain frame after frame. The lanes are made once and kept."""
        return self._stream(images, lanes, self._run, self)

    def stream_pixels(
        self, images: Iterable[np.ndarray], lanes: int | None = None
    ) -> Iterator[np.ndarray]:
        """:meth:`stream` from and to ``(H, W, 3)`` uint8 pixels (a video's frames): in
        lanes, no torch between the decoder, the runtime and the encoder (docs/video.md);
        one lane goes through :meth:`__call__`'s tensors."""
        return self._stream(images, lanes, self._run_pixels, self._pixels)

    def _pixels(self, rgb: np.ndarray) -> np.ndarray:
        return to_array(self(from_array(rgb)))

    def _stream(
        self,
        images: Iterable[Any],
        lanes: int | None,
        run: Callable[[Any, Any], Any],
        alone: Callable[[Any], Any],
    ) -> Iterator[Any]:
        """``run(lane, image)`` for each image, in lanes; ``alone(image)`` for one lane."""
        cores = self.threads or _cores()
        lanes = lanes or min(2, cores)
        if lanes == 1:
            for image in images:
                yield alone(image)
            return
        idle = self._lane_queue(lanes, max(1, cores // lanes))
        running: deque[Future[Any]] = deque()

        def paint(image: Any) -> Any:
            lane = idle.get()
            try:
                return run(lane, image)
            finally:
                idle.put(lane)

        with ThreadPoolExecutor(lanes, "painterly-lane") as pool:
            try:
                for image in images:
                    running.append(pool.submit(paint, image))
                    if len(running) > lanes:  # one waiting beside each lane: no lane idles
                        yield running.popleft().result()
                while running:
                    yield running.popleft().result()
            finally:
                for future in running:  # the consumer stopped early, or a frame failed
                    future.cancel()

    def _lane_queue(self, lanes: int, threads: int) -> queue.SimpleQueue[Any]:
        """The idle lanes, made once and kept."""
        with self._lane_lock:
            if self._lanes is None or self._lane_count != lanes:
                made = self._lanes_of(lanes, threads)  # a failure here leaves the old lanes
                idle: queue.SimpleQueue[Any] = queue.SimpleQueue()
                for lane in made:
                    idle.put(lane)
                self._lanes, self._lane_count = idle, lanes
            return self._lanes


class OnnxNet(GraphNet):
    """The graph in an ONNX Runtime session (thread-safe: one serves every caller); a
    lane is a session of its own."""

    def __init__(self, data: bytes, threads: int | None = None) -> None:
        self._data = data
        self.session = _session(data, threads)
        meta = self.session.get_modelmeta().custom_metadata_map[METADATA_KEY]
        super().__init__(NetSpec.from_dict(json.loads(meta)["net"]).border, threads)

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        return self._run(self.session, image)

    def _lanes_of(self, lanes: int, threads: int) -> list[Any]:
        return [_session(self._data, threads) for _ in range(lanes)]

    def _infer(self, lane: Any, image: np.ndarray) -> np.ndarray:
        return lane.run(None, {"image": image})[0]


def _cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _session(data: bytes, threads: int | None) -> Any:
    ort = require("onnxruntime")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def frame_array(image: np.ndarray, border: int) -> tuple[np.ndarray, tuple[slice, ...]]:
    """:func:`painterly.transform.frame` in numpy. The frame is made outside torch so that
    no torch thread pool wakes beside ONNX Runtime's: torch's threads spin a while after
    every parallel operation (a padding of a 640x360 frame is one), and ONNX Runtime's
    then share the cores with them (a tenth to a fifth of a frame's time; docs/fast.md)."""
    mode, pad_h, pad_w, window = frame_plan(*image.shape[-2:], border)
    side = ((0, 0), (0, 0))
    if border:
        numpy_mode = "reflect" if mode == "reflect" else "edge"
        image = np.pad(image, (*side, (border, border), (border, border)), mode=numpy_mode)
    if pad_h or pad_w:
        image = np.pad(image, (*side, (0, pad_h), (0, pad_w)), mode="edge")
    return image, window


def read(path: str | os.PathLike) -> tuple[bytes, dict[str, Any]]:
    """An ``.onnx`` file written by :func:`export`: its bytes and its record; a missing,
    foreign or corrupt file is refused."""
    onnx = require("onnx")
    source = Path(path)
    if not source.is_file():
        raise InputError(f"{source}: no such model file")
    data = source.read_bytes()
    try:
        graph = onnx.load_from_string(data)
    except Exception:
        raise InputError(f"{source}: not an ONNX file") from None
    meta = {p.key: p.value for p in graph.metadata_props}
    return data, parse_record(meta, source, "an ONNX file")


def load(path: str | os.PathLike, threads: int | None = None) -> Model:
    """An ``.onnx`` model written by :func:`export`, on ONNX Runtime; a foreign or corrupt
    file is refused. ``threads``: ONNX Runtime's threads (None: one per core)."""
    require("onnxruntime")
    return load_with(path, lambda data: OnnxNet(data, threads), "ONNX Runtime")


def load_with(path: str | os.PathLike, make: Callable[[bytes], GraphNet], runtime: str) -> Model:
    """An ``.onnx`` model written by :func:`export`, its graph run by ``make(data)``; a
    graph the runtime cannot run is refused in one line."""
    data, record = read(path)
    try:
        net = make(data)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"{path}: {runtime} cannot run it ({type(exc).__name__})") from None
    return Model(net, record, str(path))  # type: ignore[arg-type]


def available() -> bool:
    return installed("onnxruntime", "onnx")


def installed(*names: str) -> bool:
    """Whether every package of ``names`` imports."""
    try:
        for name in names:
            require(name)
    except InputError:
        return False
    return True


def require(name: str, runtime: str = "ONNX", extra: str = EXTRA) -> Any:
    """The package ``name``, or one line that says how to install it."""
    try:
        return __import__(name)
    except ImportError:
        raise InputError(f"{runtime} needs the {name} package: {extra}") from None


__all__ = [
    "GraphNet",
    "OnnxNet",
    "available",
    "export",
    "export_bytes",
    "frame_array",
    "installed",
    "load",
    "load_with",
    "read",
    "require",
]
