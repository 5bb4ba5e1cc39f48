"""Studies: the scripts that produced ``benchmarks/results/`` (one table or figure each).

Each one declares what it varies and runs every variant through the one pipeline in
:mod:`fgvc_mobile.studies.run` (train or reuse -> deploy graph -> export -> timing), then writes
its command, machine and results with :mod:`fgvc_mobile.studies.results`. Studies may use the
trainer, the exporter and the benchmark harness; nothing outside ``studies/`` imports them.
"""
