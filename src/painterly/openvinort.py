"""Run the exported ONNX graph with Intel's OpenVINO Runtime (the ``painterly[openvino]``
extra: openvino, onnx).

On the Intel Xeon measured here (AVX512-BF16 and AMX) it runs the real-time network 2x
faster than ONNX Runtime: in bf16, which OpenVINO computes in by default where the CPU has
it natively (in f32 it is about as fast as ONNX Runtime), and with the instance
normalisations inside its blocked layout (2 or 3 layout copies a frame, where ONNX Runtime
makes one round every normalisation). docs/fast.md, *Speed*. bf16 is not PyTorch's
picture to the bit: 0.3 to 1.1 grey levels (of 255) on average, more at single pixels of
the stroke texture; ``precision="f32"`` asks for f32. The graph is the one
:func:`painterly.onnxrt.export_bytes` writes (its record travels in the graph; OpenVINO
keeps it); reading it runs no code from the file.
"""

from __future__ import annotations

import json
import os
import queue
import threading
from typing import Any

import numpy as np

from painterly.modelfile import METADATA_KEY, Model
from painterly.onnxrt import GraphNet, installed, load_with, require
from painterly.transform import NetSpec

EXTRA = "pip install 'painterly[openvino]'"
_DISPATCH = threading.Lock()


class OpenVinoNet(GraphNet):
    """The graph compiled by OpenVINO for the CPU. Frame after frame, it runs compiled for
    latency (every core on one frame); a lane of :meth:`stream` is one of the streams of a
    second compilation for throughput (OpenVINO gives each stream its own cores). An
    inference request serves one caller at a time: idle ones are kept and reused."""

    def __init__(
        self, data: bytes, threads: int | None = None, precision: str | None = None
    ) -> None:
        ov = _require("openvino")
        self._core = ov.Core()
        # None: OpenVINO's own choice, bf16 where the CPU computes in it natively (measured
        # here), else f32; but not its f16 on ARM CPUs, which nobody measured with these
        # networks (f16's range is narrow for the normalisations): f32 there
        native = self._core.get_property("CPU", "INFERENCE_PRECISION_HINT").to_string()
        self._precision = precision or ("f32" if native == "f16" else None)
        self._graph = self._core.read_model(data, b"")
        record = self._graph.get_rt_info(["framework", METADATA_KEY]).astype(str)
        super().__init__(NetSpec.from_dict(json.loads(record)["net"]).border, threads)
        self._compiled = self._compile("LATENCY", threads)
        self._idle: queue.SimpleQueue[Any] = queue.SimpleQueue()

    @property
    def precision(self) -> str:
        """The precision OpenVINO computes in here: bf16 where the CPU has it, else f32."""
        return self._compiled.get_property("INFERENCE_PRECISION_HINT").to_string()

    def _compile(self, hint: str, threads: int | None, streams: int | None = None) -> Any:
        config: dict[str, Any] = {"PERFORMANCE_HINT": hint}
        if self._precision:
            config["INFERENCE_PRECISION_HINT"] = self._precision
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        if streams:
            config["NUM_STREAMS"] = streams
        return self._core.compile_model(self._graph, "CPU", config)

    def __call__(self, image: Any) -> Any:
        try:
            request = self._idle.get_nowait()
        except queue.Empty:
            request = self._compiled.create_infer_request()
        try:
            return self._run(request, image)
        finally:
            self._idle.put(request)

    def _lanes_of(self, lanes: int, threads: int) -> list[Any]:
        compiled = self._compile("THROUGHPUT", lanes * threads, streams=lanes)
        return [compiled.create_infer_request() for _ in range(lanes)]

    def _infer(self, lane: Any, image: np.ndarray) -> np.ndarray:
        # OpenVINO's Python side (numpy in, numpy out) one lane at a time, the inference
        # itself side by side: two lanes in its data dispatch at once once hung a video run
        # for good (one held the GIL waiting for a C++ static the other was making, which
        # waited for the GIL; seen once, 2026-12-03)
        with _DISPATCH:
            lane.start_async({0: image}, share_inputs=True)
        lane.wait()
        with _DISPATCH:
            # the request's own output buffer, not a copy: the caller copies its window out
            # before the request serves anyone else
            return lane.get_output_tensor(0).data


def load(path: str | os.PathLike, threads: int | None = None) -> Model:
    """An ``.onnx`` model written by :func:`painterly.onnxrt.export`, on OpenVINO; a
    foreign or corrupt file is refused. ``threads``: OpenVINO's threads (None: all)."""
    check()
    return load_with(path, lambda data: OpenVinoNet(data, threads), "OpenVINO")


def describe() -> str:
    """OpenVINO's version and the precision it computes in on this CPU (painterly info)."""
    ov = _require("openvino")
    version = ov.__version__.split("-")[0]
    try:
        precision = ov.Core().get_property("CPU", "INFERENCE_PRECISION_HINT").to_string()
    except Exception as exc:  # a broken install: say so, do not fail 'painterly info'
        return f"openvino {version} (cannot start: {type(exc).__name__})"
    return f"openvino {version} ({'f32' if precision == 'f16' else precision} on this CPU)"


def available() -> bool:
    return installed("openvino", "onnx")


def check() -> None:
    """Both packages the OpenVINO runner needs (the graph is written and read through
    ONNX), or one line that says how to install them."""
    _require("openvino")
    _require("onnx")


def _require(name: str) -> Any:
    return require(name, "OpenVINO", EXTRA)


__all__ = ["OpenVinoNet", "available", "check", "describe", "load"]
