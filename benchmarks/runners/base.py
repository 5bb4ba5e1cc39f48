"""The one interface every runtime adapter implements.

``Runner.load(path, threads, manifest) -> Session``; ``Session.run(x) -> float32 logits``
where ``x`` is already in the artifact's own input layout and dtype (see ``inputs.prepare``)
and integer outputs come back dequantised.
"""

from __future__ import annotations

import numpy as np

from fgvc_mobile.benchmarks.inputs import QuantParams


class Session:
    """A loaded model. Subclasses set what the runtime itself reports about the input."""

    #: dtype name the loaded model takes, when the runtime says (None: trust the manifest)
    input_dtype: str | None = None
    #: quantization params the loaded model applies to its input, when the runtime says
    input_quant: QuantParams | None = None

    def set_batch(self, n: int) -> int:
        """Prepare for batches of up to ``n``; return the batch size this session can take."""
        return n

    def run(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def close(self) -> None:
        pass


class Runner:
    """A runtime on a target (host CPU or CUDA); stateless apart from its settings."""

    runtime: str = ""
    target: str = "host"
    delegate: str | None = None
    formats: tuple[str, ...] = ()

    def unavailable_reason(self) -> str | None:
        """None when this runtime can run here, else a one-line reason for a skipped row."""
        return None

    def load(self, path, threads: int, manifest: dict | None) -> Session:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{self.runtime}[{self.target}{'/' + self.delegate if self.delegate else ''}]"


def output_quant(manifest: dict | None) -> QuantParams | None:
    return QuantParams.parse(((manifest or {}).get("output") or {}).get("quantization"))


def as_logits(out, n: int) -> np.ndarray:
    """(N, C) float32 from whatever shape a runtime hands back (e.g. (N, 1, 1, C))."""
    arr = np.asarray(out)
    return arr.reshape(n, -1)
