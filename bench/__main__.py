"""``python -m bench [NAME...]``: run the benchmark modules and write ``bench/results.md``.

Every module ``bench/bench_<name>.py`` is imported in name order and its
``run() -> str`` (one Markdown section) is called. A module that raises
``bench.common.Skip("why")`` is reported as skipped with its reason; one that fails is
reported with the error, the others still run, and the exit status is 1.

With NAMEs (``system`` or ``bench_system``) only those modules run and the sections go
to standard output; ``--output PATH`` writes them to a file as well. Without NAMEs all
modules run and the result is written to ``bench/results.md`` (or ``--output``).
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import pkgutil
import sys
import time
import traceback
from pathlib import Path

from bench.common import BenchError, Skip, machine_summary

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_OUTPUT = BENCH_DIR / "results.md"


def discover() -> list[str]:
    """Names of the ``bench_*`` modules in this package, sorted."""
    return sorted(
        info.name
        for info in pkgutil.iter_modules([str(BENCH_DIR)])
        if info.name.startswith("bench_") and not info.ispkg
    )


def select(available: list[str], wanted: list[str]) -> list[str]:
    """The modules named in ``wanted`` (with or without ``bench_``), in name order."""
    chosen = set()
    unknown = []
    for name in wanted:
        module = name if name.startswith("bench_") else f"bench_{name}"
        if module in available:
            chosen.add(module)
        else:
            unknown.append(name)
    if unknown:
        raise SystemExit(
            f"unknown benchmark(s): {', '.join(unknown)}; available: "
            + ", ".join(m.removeprefix("bench_") for m in available)
        )
    return [m for m in available if m in chosen]


def run_one(module_name: str) -> tuple[str, bool]:
    """Run one module: (its Markdown section, whether it failed)."""
    short = module_name.removeprefix("bench_")
    started = time.monotonic()
    try:
        module = importlib.import_module(f"bench.{module_name}")
        section = str(module.run()).rstrip() + "\n"
        failed = False
    except Skip as skip:
        section = f"## {short}\n\nSkipped: {skip}\n"
        failed = False
    # One failing bench must not hide the others' figures: report it and go on.
    except (BenchError, Exception) as err:
        detail = "".join(traceback.format_exception_only(type(err), err)).strip()
        section = f"## {short}\n\nFailed: `{detail}`\n"
        traceback.print_exc(file=sys.stderr)
        failed = True
    took = time.monotonic() - started
    return f"{section}\n_{short}: ran in {took:.0f} s._\n", failed


def header() -> str:
    today = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "# promfleet benchmarks\n\n"
        "Written by `make bench` (`python -m bench`). One run on one machine: read the "
        "ratios, not the absolute figures.\n\n"
        f"- date: {today}\n"
        f"- machine: {machine_summary()}\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--output", type=Path, help="write the Markdown here")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)

    available = discover()
    if args.list:
        print("\n".join(m.removeprefix("bench_") for m in available))
        return 0
    modules = select(available, args.names) if args.names else available
    output: Path | None = args.output or (None if args.names else DEFAULT_OUTPUT)

    sections = []
    any_failed = False
    for module_name in modules:
        print(f"bench: running {module_name.removeprefix('bench_')}", file=sys.stderr, flush=True)
        section, failed = run_one(module_name)
        sections.append(section)
        any_failed = any_failed or failed
    if not modules:
        sections.append("No benchmark modules found.\n")
    text = header() + "\n" + "\n".join(sections)

    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        print(f"bench: wrote {output.name}", file=sys.stderr)
    return 1 if any_failed else 0


if __name__ == "__main__":
    sys.exit(main())
