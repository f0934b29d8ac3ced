"""``promfleet-exporter NAME [--OPTION=VALUE ...]``: resolve options, build collectors, serve.

Exit status 2 for a configuration problem (one message naming every problem), 1 when
the address cannot be bound, 0 after a graceful SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from exporters import registry
from exporters.registry import BrokenSource, ExporterNotFound, load_exporter
from exporters.runtime.config import ConfigError, Problem, help_text, resolve
from exporters.runtime.logs import setup_logging
from exporters.spec import OptionError

if TYPE_CHECKING:
    from exporters.runtime.webconfig import WebConfigWatcher

USAGE = (
    "usage: promfleet-exporter NAME --web.listen-address=HOST:PORT [--config.file=FILE] "
    "[--web.config.file=FILE] [--log.level=debug|info|warn|error] [--OPTION=VALUE ...]\n"
    "exporters: {exporters}; `promfleet-exporter NAME --help` lists options"
)


def _fail(exporter: str, problems: Sequence[Problem]) -> int:
    """One structured line on stderr naming every problem; status 2."""
    text = "; ".join(str(p) for p in problems)
    record = {
        "level": "error",
        "logger": "promfleet.config",
        "msg": f"{exporter}: configuration problems: {text}",
        "problems": [
            {"option": p.option, "source": p.source, "reason": p.reason} for p in problems
        ],
    }
    print(json.dumps(record, ensure_ascii=False), file=sys.stderr)
    return 2


def _web_config_problems(path: str) -> tuple[WebConfigWatcher | None, list[Problem]]:
    """The watcher of web config file ``path`` (none when empty), or the problem with it."""
    if not path:
        return None, []
    from exporters.runtime.webconfig import WebConfigError, WebConfigWatcher

    try:
        return WebConfigWatcher(path), []
    except WebConfigError as err:
        return None, [Problem("web.config.file", path, str(err))]


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0].startswith("-"):
        wants_help = bool(args) and args[0] in ("-h", "--help")
        usage = USAGE.format(exporters=", ".join(registry.EXPORTERS))  # imports them all
        print(usage, file=sys.stdout if wants_help else sys.stderr)
        return 0 if wants_help else 2
    name = args[0]
    try:
        exporter = load_exporter(name)
    except (ExporterNotFound, BrokenSource) as err:
        return _fail(name, [Problem("NAME", "argument", str(err))])
    try:
        runtime, settings, want_help = resolve(exporter, args[1:], os.environ)
    except ConfigError as err:
        # The web config is checked too, so one message names every problem.
        web_file = err.parsed.get("web.config.file") or ""
        return _fail(exporter.name, [*err.problems, *_web_config_problems(web_file)[1]])
    if want_help:
        print(help_text(exporter))
        return 0

    setup_logging(runtime.log_level, runtime.secret_values)
    # Imported here: the server stack is only needed to serve.
    from exporters.runtime.server import Served, serve

    watcher, problems = _web_config_problems(runtime.web_config_file)
    try:
        collectors = tuple(exporter.build(settings))
    except OptionError as err:
        problems.append(Problem("build", "settings", str(err)))
    if problems:
        return _fail(exporter.name, problems)
    served = Served(exporter=exporter, settings=settings, runtime=runtime, collectors=collectors)
    return asyncio.run(serve(served, watcher))


if __name__ == "__main__":
    sys.exit(main())
