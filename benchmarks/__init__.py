"""Benchmark harness: latency and accuracy of exported artifacts on the host, a GPU and phones.

``run_bench`` measures every artifact listed by the manifests in a folder and writes
``report.json`` (see ``report.schema.json``), ``report.md``, PNG plots and ``report.html``;
``import_report`` renders a report written elsewhere (the Android app's benchmark mode).
Both are imported lazily so that reading a report does not load every runtime.
"""

__all__ = ["run_bench", "import_report"]


def __getattr__(name):
    if name in __all__:
        from fgvc_mobile.benchmarks import bench

        return getattr(bench, name)
    raise AttributeError(name)
