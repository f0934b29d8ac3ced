"""Shared pieces of the multi-target exporters (exporters/targets.py): family templates,
the single flight, the targets option, and named targets' secrets reaching the log redactor.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest
from prometheus_client.core import Metric

from exporters import postgres, redis
from exporters.runtime.config import resolve
from exporters.runtime.exposition import TextRenderer
from exporters.runtime.logs import JsonFormatter
from exporters.spec import MetricSpec
from exporters.targets import SingleFlight, TargetFamilies, targets_parser
from tests.helpers import exposition


def _values(spec: MetricSpec, target: str) -> tuple[str, ...]:
    return (target, *(f"{label}-value" for label in spec.labels[1:]))


@pytest.mark.parametrize("module", [postgres, redis], ids=["postgres", "redis"])
def test_template_families_equal_spec_families_filled_with_add_metric(module: object) -> None:
    specs: tuple[MetricSpec, ...] = module.METRICS  # type: ignore[attr-defined]
    prefix = module.NS + "_"  # type: ignore[attr-defined]
    batch = TargetFamilies(specs, prefix).start()
    expected: list[Metric] = []
    for spec in specs:
        family = spec.family()
        for target, value in (("main", 1.5), ("other", 0.0)):
            labels = _values(spec, target)
            if spec.type == "info":  # the labels are the information; the value is 1
                batch.add(spec.name.removeprefix(prefix), labels, 1.0)
                family.add_metric(list(labels), {})
            else:
                batch.add(spec.name.removeprefix(prefix), labels, value)
                family.add_metric(list(labels), value)
        expected.append(family)
    got = batch.list()
    assert got == expected  # name, type, help, samples (labels and values) alike
    assert TextRenderer().render(got).decode() == exposition(expected)


def test_template_families_are_fresh_each_scrape_and_skip_none_values() -> None:
    maker = TargetFamilies(redis.METRICS, redis.NS + "_")
    first = maker.start()
    first.add("up", ("a",), 1.0)
    first.add("db_keys", ("a", "db0"), None)
    second = maker.start()
    second.add("up", ("a",), 0.0)
    (up_first,) = first.list()
    (up_second,) = second.list()
    assert up_first is not up_second
    assert [s.value for s in up_first.samples] == [1.0]
    assert [s.value for s in up_second.samples] == [0.0]
    # Each sample owns its label dict: changing one changes no other scrape's.
    up_first.samples[0].labels["target"] = "changed"
    assert up_second.samples[0].labels == {"target": "a"}


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
        ([{"name": "a", "dsn": "x"}, {"name": "a", "dsn": "y"}],
         r"^targets: name 'a' appears twice$"),
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
