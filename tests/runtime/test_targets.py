"""Shared pieces of the multi-target exporters (exporters/targets.py): the single flight,
the targets option, and named targets' secrets reaching the log redactor.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from exporters import postgres
from exporters.runtime.config import resolve
from exporters.runtime.logs import JsonFormatter
from exporters.targets import SingleFlight, targets_parser


def test_a_caller_past_its_deadline_gives_up_while_the_batch_finishes_for_the_next() -> None:
    runs = 0

    async def work(deadline: float) -> str:
        nonlocal runs
        runs += 1
        await asyncio.sleep(0.2)
        return "done"

    async def go() -> tuple[bool, str, str, int]:
        flight: SingleFlight[str] = SingleFlight()
        try:
            await flight.run(time.monotonic() + 0.02, work)
            gave_up = False
        except TimeoutError:
            gave_up = True
        busy = flight.busy
        shared = await flight.run(time.monotonic() + 5.0, work)  # joins the same batch
        fresh = await flight.run(time.monotonic() + 5.0, work)  # a new batch
        return gave_up and busy, shared, fresh, runs

    gave_up, shared, fresh, count = asyncio.run(go())
    assert gave_up
    assert (shared, fresh) == ("done", "done")
    assert count == 2


def test_a_cancelled_caller_does_not_cancel_the_shared_batch() -> None:
    async def work(deadline: float) -> str:
        await asyncio.sleep(0.1)
        return "done"

    async def go() -> tuple[bool, str]:
        flight: SingleFlight[str] = SingleFlight()
        first = asyncio.ensure_future(flight.run(time.monotonic() + 5.0, work))
        second = asyncio.ensure_future(flight.run(time.monotonic() + 5.0, work))
        await asyncio.sleep(0.01)
        first.cancel()
        result = await second
        return first.cancelled(), result

    cancelled, result = asyncio.run(go())
    assert cancelled
    assert result == "done"


def test_a_failed_batch_raises_its_error_in_every_waiting_caller() -> None:
    async def work(deadline: float) -> str:
        await asyncio.sleep(0.01)
        raise ConnectionError("refused")

    async def go() -> list[BaseException | str]:
        flight: SingleFlight[str] = SingleFlight()
        return await asyncio.gather(
            *(flight.run(time.monotonic() + 5.0, work) for _ in range(3)),
            return_exceptions=True,
        )

    outcomes = asyncio.run(go())
    assert [type(o) for o in outcomes] == [ConnectionError] * 3


# --- the targets option -----------------------------------------------------------------

PARSE_DSN_TARGETS = targets_parser("dsn")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("[unclosed", r"^targets: not valid YAML$"),
        ({"name": "a"}, r"^targets: expected a list of \{name, dsn\} entries$"),
        (["a"], r"^targets\[0\]: expected a mapping$"),
        ([{"name": "a", "dsn": "x", "url": "y"}], r"^targets\[0\]: unknown keys \['url'\]$"),
        ([{"name": "a", "dsn": "x"}, {"name": "-b", "dsn": "y"}],
         r"^targets\[1\]: target name '-b' must be 1-64 characters"),
        ([{"name": "a"}], r"^targets\[0\] \(a\): give exactly one of dsn, dsn_file$"),
        ([{"name": "a", "dsn": "x", "dsn_file": "f"}],
         r"^targets\[0\] \(a\): give exactly one of dsn, dsn_file$"),
        ([{"name": "a", "dsn": ""}], r"^targets\[0\] \(a\): empty dsn$"),
    ],
)
def test_a_bad_targets_entry_is_refused_naming_the_entry(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PARSE_DSN_TARGETS(value)


def test_targets_come_from_yaml_text_or_a_list_and_a_secret_file_loses_its_newline(
    tmp_path: Path,
) -> None:
    secret = tmp_path / "dsn"
    secret.write_text("host=db password=Canary\n")
    parsed = PARSE_DSN_TARGETS(f"- {{name: main, dsn_file: '{secret}'}}\n- {{name: b, dsn: x}}")
    assert [(t.name, t.locator) for t in parsed] == [
        ("main", "host=db password=Canary"), ("b", "x")
    ]
    assert "Canary" not in repr(parsed)
    assert parsed[0].secrets() == ("host=db password=Canary", "Canary")
    assert PARSE_DSN_TARGETS(None) == () and PARSE_DSN_TARGETS("") == ()
    with pytest.raises(ValueError, match=r"^cannot read dsn file '.*missing'"):
        PARSE_DSN_TARGETS([{"name": "a", "dsn_file": str(tmp_path / "missing")}])


def test_named_targets_dsns_and_passwords_reach_the_log_redactor(tmp_path: Path) -> None:
    canary = "Canary-Named-7f3a"
    config = tmp_path / "postgres.yml"
    dsn = f"postgresql://watcher:{canary}@127.0.0.1:1/postgres"
    config.write_text(f"targets:\n  - name: main\n    dsn: {dsn}\n")
    runtime, _, _ = resolve(postgres.EXPORTER, [f"--config.file={config}"], {})
    assert dsn in runtime.secret_values and canary in runtime.secret_values
    formatter = JsonFormatter(runtime.secret_values)
    record = logging.LogRecord("t", logging.ERROR, __file__, 1, f"failed: {canary}", None, None)
    assert canary not in formatter.format(record)
