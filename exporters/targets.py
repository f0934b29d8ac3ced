"""Named targets of the multi-target exporters (postgres, redis): config, secrets, single flight.

A target is a configured NAME plus a secret locator (a DSN or URL). The name is the only
thing that reaches a label, a log line or the landing page; the locator and the password
inside it never do (:func:`redact` scrubs them out of driver error messages).
:class:`SingleFlight` keeps at most one query batch in flight per target: scrapes that
arrive while one runs share its result, each waiting no longer than its own deadline.
:class:`TargetCollector` is the base of a target's collector: connection, single flight,
retry on a stale connection, up/down log line and close; an exporter supplies connect,
query and families.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import unquote, urlsplit

from prometheus_client.core import Metric

from exporters.spec import (
    Collector,
    Option,
    OptionError,
    ScrapeContext,
    Settings,
    parse_str,
)

T = TypeVar("T")

# The label of the unnamed target (``--dsn``, ``--url``) unless --target-name says.
DEFAULT_TARGET_NAME = "default"
TARGET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

# Deadline share kept back for building the families after the batch returns.
SAFETY_MARGIN_S = 0.02


@dataclass(frozen=True)
class Target:
    """One monitored server: its label name and the secret locator (never printed)."""

    name: str
    locator: str = field(repr=False)

    def secrets(self) -> tuple[str, ...]:
        """The strings that must never appear in output: the locator and its password."""
        found = [self.locator]
        password = password_of(self.locator)
        if password:
            found.append(password)
        return tuple(found)


def password_of(locator: str) -> str:
    """The password inside a URL (``scheme://user:pw@host``) or a libpq ``password=`` pair."""
    if "://" in locator:
        try:
            parts = urlsplit(locator)
        except ValueError:
            return ""
        password = parts.password or ""
        if not password and parts.username and "@" in parts.netloc:
            # redis://:pw@host is user "" with password pw for some parsers, and
            # redis://pw@host is a bare password for redis-py; treat both as secrets.
            password = parts.username
        if not password:
            match = re.search(r"[?&]password=([^&]*)", parts.query)
            password = match.group(1) if match else ""
        return unquote(password)
    match = re.search(r"(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", locator)
    if not match:
        return ""
    value = match.group(1)
    if value.startswith("'"):
        value = value[1:-1].replace("\\'", "'").replace("\\\\", "\\")
    return value


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret (longest first) replaced by ``***``."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _read_secret_file(path: str, what: str) -> str:
    try:
        # One trailing newline is how editors save files; the secret itself has none.
        return Path(path).read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as err:
        raise ValueError(f"cannot read {what} file {path!r}: {err.strerror}") from err


def check_target_name(name: Any) -> str:
    if not isinstance(name, str) or not TARGET_NAME.match(name):
        raise ValueError(
            f"target name {name!r} must be 1-64 characters of letters, digits, '_', '.', '-'"
        )
    return name


def target_entries(
    value: Any, keys: Collection[str], shape: str
) -> list[tuple[str, str, Mapping[str, Any]]]:
    """The entries of a ``targets`` option, each as ``(where, name, entry)``.

    ``value`` is a YAML list (config file) or YAML text (flag/env) of mappings, each with
    a valid ``name`` and no key outside ``keys`` (the runtime refuses a name given twice:
    :func:`target_names`); ``where`` names the
    entry in error messages (``targets[0] (main)``). ``shape`` shows an entry's keys.
    """
    if value is None or value == "":
        return []
    if isinstance(value, str):
        import yaml  # only flag/env text needs it

        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError as err:
            raise ValueError("targets: not valid YAML") from err
    if not isinstance(value, list):
        raise ValueError(f"targets: expected a list of {shape} entries")
    out: list[tuple[str, str, Mapping[str, Any]]] = []
    for index, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise ValueError(f"targets[{index}]: expected a mapping")
        unknown = set(item) - {"name", *keys}
        if unknown:
            raise ValueError(f"targets[{index}]: unknown keys {sorted(unknown)}")
        try:
            name = check_target_name(item.get("name"))
        except ValueError as err:
            raise ValueError(f"targets[{index}]: {err}") from err
        out.append((f"targets[{index}] ({name})", name, item))
    return out


def targets_parser(key: str) -> Callable[[Any], tuple[Target, ...]]:
    """A parser for the ``targets`` option: a list of ``{name, <key>}`` or ``{name, <key>_file}``.

    The value may come from the YAML file (a list) or from a flag/env as YAML text.
    """

    def parse(value: Any) -> tuple[Target, ...]:
        out: list[Target] = []
        shape = "{name, " + key + "}"
        for where, name, item in target_entries(value, (key, f"{key}_file"), shape):
            inline, path = item.get(key), item.get(f"{key}_file")
            if (inline is None) == (path is None):
                raise ValueError(f"{where}: give exactly one of {key}, {key}_file")
            locator = (
                parse_str(inline) if inline is not None else _read_secret_file(str(path), key)
            )
            if not locator:
                raise ValueError(f"{where}: empty {key}")
            out.append(Target(name, locator))
        return tuple(out)

    return parse


def _target_secrets(targets: Iterable[Target]) -> tuple[str, ...]:
    return tuple(secret for target in targets for secret in target.secrets())


def target_options(
    key: str, what: str, default_name: str = DEFAULT_TARGET_NAME
) -> tuple[Option, ...]:
    """The three target options every multi-target exporter shares.

    ``<key>`` (secret: env ``PROMFLEET_<EXP>_<KEY>`` or ``..._FILE``) is one unnamed
    target, labelled ``target-name``; ``targets`` lists named ones (config file).
    """
    return (
        Option(key, f"{what} of the single target (secret; prefer the _FILE variant)", "",
               parse_str, secret=True),
        Option("target-name", f"target label of the {key} target", default_name,
               check_target_name),
        Option("targets", f"named targets: a list of {{name, {key} | {key}_file}}", (),
               targets_parser(key), structured=True, secret_parts=_target_secrets),
    )


def resolve_targets(settings: Settings, key: str) -> tuple[Target, ...]:
    """All targets from settings (the unnamed one first), refusing none at all."""
    named: tuple[Target, ...] = tuple(settings.get("targets") or ())
    single = str(settings.get(key) or "")
    out = list(named)
    if single:
        name = str(settings.get("target-name") or DEFAULT_TARGET_NAME)
        out.insert(0, Target(name, single))
    if not out:
        raise OptionError(
            f"no target: set PROMFLEET_{settings.exporter.upper()}_{key.upper()}"
            f" (or _FILE) or list targets in the config file"
        )
    return tuple(out)


def target_names(key: str) -> Callable[[Settings], tuple[str, ...]]:
    """``ExporterDef.target_names`` of an exporter with :func:`target_options`."""

    def names(settings: Settings) -> tuple[str, ...]:
        named = tuple(t.name for t in settings.get("targets") or ())
        if settings.get(key):
            return (str(settings.get("target-name") or DEFAULT_TARGET_NAME), *named)
        return named

    return names


class SingleFlight(Generic[T]):
    """At most one batch in flight; callers arriving meanwhile share its result.

    ``work(deadline)`` must bound itself by ``deadline`` (a ``time.monotonic()`` value).
    Each caller waits only until its own deadline; a late batch keeps running in the
    background (so it can clean up) and the next caller shares it or starts afresh.
    """

    def __init__(self) -> None:
        self._task: asyncio.Task[T] | None = None

    @property
    def busy(self) -> bool:
        return self._task is not None and not self._task.done()

    async def run(self, deadline: float, work: Callable[[float], Awaitable[T]]) -> T:
        task = self._task
        if task is None or task.done():
            task = asyncio.ensure_future(work(deadline))
            task.add_done_callback(_consume)
            self._task = task
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("deadline passed before the batch finished")
        # As wait_for(shield(task), remaining): a caller that times out or is cancelled
        # leaves the task running. One waiter future, one timer and one done callback
        # cost a third of what the two wrappers' futures, callbacks and timers do.
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()

        def wake(_: object = None) -> None:
            if not waiter.done():
                waiter.set_result(None)

        task.add_done_callback(wake)
        timer = loop.call_later(remaining, wake)
        try:
            await waiter
        finally:
            timer.cancel()
            task.remove_done_callback(wake)
        if not task.done():
            raise TimeoutError("deadline passed before the batch finished")
        return task.result()


def _consume(task: asyncio.Future[Any]) -> None:
    # A batch whose callers all gave up still ends; its outcome is reported by the
    # callers that waited, so retrieving it here only stops asyncio's warning.
    if not task.cancelled():
        task.exception()


def first_line(err: BaseException) -> str:
    """``Type: first line of the message``: a driver error short enough for one log field."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"


def work_deadline(ctx_deadline: float) -> float:
    """The deadline a batch gets: the scrape's, less a margin to build the families."""
    now = time.monotonic()
    return ctx_deadline - min(SAFETY_MARGIN_S, max(0.0, ctx_deadline - now) * 0.1)


# --- the base of a multi-target exporter's collector ------------------------------------

DEADLINE = "deadline exceeded"
C = TypeVar("C")  # the driver's connection
D = TypeVar("D")  # what one successful query returned


@dataclass(frozen=True)
class Outcome(Generic[D]):
    """One scrape's answer from a target: its data, or why there is none.

    ``up`` with ``query_error`` is a server that answered while a query failed;
    ``error`` (redacted) is logged, never exported.
    """

    up: bool
    data: D | None = None
    error: str = ""
    query_error: bool = False

    @property
    def healthy(self) -> bool:
        return self.up and not self.query_error


@dataclass(frozen=True)
class Failure:
    """How an exporter judges a driver error (see :meth:`TargetCollector.judge`).

    ``stale``: the error may be a kept-alive connection cut while idle, so one fresh
    connection within the same deadline decides. ``answered``: the server answered and
    a query failed, so the target is up with a scrape error.
    """

    error: str
    stale: bool = False
    answered: bool = False


class TargetCollector(Collector, Generic[C, D]):
    """All metrics of one named target, from one reused connection.

    The base owns the connection, single flight (concurrent scrapes share one query),
    one retry on a fresh connection when a reused one proves stale, the up/down log
    line and closing; an exporter supplies :meth:`connect`, :meth:`query`,
    :meth:`judge`, :meth:`is_open`, :meth:`disconnect`, :meth:`disconnect_now` and
    :meth:`families`, and names its driver's exceptions in ``errors``.
    """

    log: logging.Logger
    errors: tuple[type[BaseException], ...] = (OSError,)

    def __init__(self, target: Target) -> None:
        self.target = target.name
        self._target = target
        self._secrets = target.secrets()
        self._conn: C | None = None
        self._flight: SingleFlight[Outcome[D]] = SingleFlight()
        self._was_up: bool | None = None

    # --- what an exporter supplies ------------------------------------------------------

    @abc.abstractmethod
    async def connect(self, deadline: float) -> C:
        """A new connection, learning what the queries need; bounded by ``deadline``."""

    @abc.abstractmethod
    async def query(self, conn: C, deadline: float) -> D:
        """This scrape's data from ``conn``; raises a driver error on failure."""

    @abc.abstractmethod
    def judge(self, err: BaseException, connected: bool) -> Failure:
        """What an error of ``errors`` means (``connected``: the connection was made)."""

    @abc.abstractmethod
    def is_open(self, conn: C) -> bool:
        """Whether ``conn`` may be used again."""

    @abc.abstractmethod
    async def disconnect(self, conn: C) -> None:
        """Close ``conn``."""

    @abc.abstractmethod
    def disconnect_now(self, conn: C) -> None:
        """Close ``conn`` without awaiting (shutdown, outside the event loop)."""

    @abc.abstractmethod
    def families(self, outcome: Outcome[D]) -> list[Metric]:
        """Fresh metric families from one outcome (pure)."""

    # --- the base ---------------------------------------------------------------------

    async def collect(self, ctx: ScrapeContext) -> Iterable[Metric]:
        deadline = work_deadline(ctx.deadline)
        try:
            outcome = await self._flight.run(deadline, self._batch)
        except TimeoutError:
            outcome = Outcome(up=False, error=f"{DEADLINE} waiting for the batch in flight")
        self._log_transition(outcome)
        return self.families(outcome)

    async def _batch(self, deadline: float) -> Outcome[D]:
        # A kept-alive connection cut while idle (a restart, a proxy, a failover) says
        # nothing about the server now: one fresh connection, within the same deadline,
        # decides. A failure on a fresh connection is the answer (no retries).
        reused = self._conn is not None and self.is_open(self._conn)
        outcome, stale = await self._attempt(deadline)
        if reused and stale:
            outcome, _ = await self._attempt(deadline)
        return outcome

    async def _attempt(self, deadline: float) -> tuple[Outcome[D], bool]:
        """The query once, and whether its failure may be a connection cut while idle."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return Outcome(up=False, error=DEADLINE), False
        connected = False
        try:
            async with asyncio.timeout(remaining):
                conn = self._conn
                if conn is None or not self.is_open(conn):
                    await self._discard()
                    conn = self._conn = await self.connect(deadline)
                connected = True
                data = await self.query(conn, deadline)
        except TimeoutError:
            await self._discard()
            return Outcome(up=False, error=DEADLINE), False
        except self.errors as err:
            await self._discard()
            failure = self.judge(err, connected)
            error = redact(failure.error, self._secrets)
            return Outcome(up=failure.answered, error=error,
                           query_error=failure.answered), failure.stale
        return Outcome(True, data), False

    def _log_transition(self, outcome: Outcome[D]) -> None:
        healthy = outcome.healthy
        if healthy == self._was_up:
            return
        self._was_up = healthy
        if healthy:
            self.log.info("target up", extra={"fields": {"target": self.target}})
        else:
            self.log.warning("target scrape failed",
                             extra={"fields": {"target": self.target, "error": outcome.error}})

    async def _discard(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await self.disconnect(conn)

    async def close(self) -> None:
        await self._discard()

    def close_now(self) -> None:
        """Synchronous close for shutdown: ends the session without awaiting."""
        conn, self._conn = self._conn, None
        if conn is not None:
            self.disconnect_now(conn)


def find_target(
    settings: Settings, name: str, collectors: Sequence[Collector]
) -> Sequence[Collector]:
    """The collectors of target ``name`` for ``/probe?target=NAME``; KeyError if none."""
    found = tuple(c for c in collectors if c.target == name)
    if not found:
        raise KeyError(name)
    return found


def close_targets(collectors: Sequence[Collector]) -> None:
    """Called by the runtime at shutdown, outside any await: close without waiting."""
    for collector in collectors:
        if isinstance(collector, TargetCollector):
            collector.close_now()
