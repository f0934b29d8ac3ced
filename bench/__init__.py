"""Side-by-side benchmarks against the reference exporters; ``python -m bench`` runs them.

Each module ``bench/bench_<name>.py`` defines ``run() -> str`` returning one Markdown
section; shared measuring helpers live in :mod:`bench.common`.
"""
