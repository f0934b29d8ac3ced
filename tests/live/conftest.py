"""The reusable live-stack fixture: real exporters, Prometheus, Alertmanager and a webhook.

``live_stack(members=[...], settings={...})`` starts a stack through
:class:`runner.Stack` (the code behind ``make run``) with fast intervals set
through the generator's settings, every receiver rendered as a webhook to a receiver the
test owns. Database, application, security and training live tests reuse it with their
own members (a :class:`~runner.Member` with its own env, e.g. a DSN through a
fault proxy), ``extra_targets`` (fixture exporters) and ``extra_rule_files``.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from generator.model import Catalogue
from runner import Member, Stack, StackConfig, StackError, default_members, select
from tests.helpers import scrape
from tests.live.webhook import Delivery, WebhookReceiver

pytestmark = pytest.mark.live

REPO_ROOT = Path(__file__).resolve().parents[2]

# 1 s scrape and evaluation, no `for`: a condition pages within seconds. group_wait is
# 1 s, not 0: with 0 a warning that arrives in the same batch as its critical twin is
# flushed before the critical is stored, and inhibition cannot hold it back.
LIVE_SETTINGS: dict[str, Any] = {
    "scrape_interval": "1s",
    "evaluation_interval": "1s",
    "scrape_timeout": "1s",
    "alert_for_override": "0s",
    "alertmanager_group_wait": "1s",
    "alertmanager_group_interval": "1s",
    "alertmanager_repeat_interval": "1h",
    "info_digest": False,
}


class LiveStack:
    """A running stack as a test sees it."""

    def __init__(self, stack: Stack, webhook: WebhookReceiver) -> None:
        self.stack = stack
        self.webhook = webhook

    @property
    def prometheus_url(self) -> str:
        return self.stack.prometheus_url

    @property
    def alertmanager_url(self) -> str:
        return self.stack.alertmanager_url

    @property
    def out_dir(self) -> Path:
        """Where the generator rendered this stack's rules, routing, dashboards, runbooks."""
        return self.stack.out_dir

    @property
    def members(self) -> tuple[Member, ...]:
        """Every member started, demo writers (``scraped=False``) included."""
        return self.stack.config.members

    def address(self, name: str) -> str:
        return self.stack.address(name)

    def query(self, promql: str) -> list[dict[str, Any]]:
        return self.stack.query(promql)

    def wait_for_data(self, promql: str, timeout: float = 20.0) -> list[dict[str, Any]]:
        """Poll an instant query until it returns something; raise after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(promql)
            if result or time.monotonic() > deadline:
                return result
            time.sleep(0.5)

    def wait_for_alert(self, name: str, receiver: str | None = None, timeout: float = 30.0,
                       status: str = "firing", **labels: str) -> Delivery:
        return self.webhook.wait_for_alert(name, receiver, timeout, status, **labels)

    def wait_for_targets_up(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            status = self.stack.status()
            total = sum(len(a) for a in self.stack.targets().values())
            if status.targets_total == total and status.targets_up == total:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"targets not all up after {timeout:.0f}s: {status.line()}")
            time.sleep(0.3)

    def stop_member(self, name: str) -> None:
        self.stack.stop_member(name)

    def start_member(self, name: str) -> None:
        self.stack.start_member(name)


def _require_binaries() -> None:
    missing = [b for b in ("prometheus", "prometheus-alertmanager", "promtool", "amtool")
               if shutil.which(b) is None]
    if missing:
        pytest.skip(f"live stack needs the Debian binaries {missing} (make setup installs them)")


def resolve_members(members: Sequence[str | Member] | str) -> tuple[Member, ...]:
    """Names (from :func:`default_members`) or :class:`Member` objects; ``"all"`` means every
    member. A named exporter brings the demo writer that feeds it (``"training"`` starts
    ``training-demo`` too); a :class:`Member` object comes alone, so a test that owns its
    data passes one. An unknown name is an error."""
    known = default_members()
    if members == "all":
        return known
    out: list[Member] = []
    for item in members:
        out.extend((item,) if isinstance(item, Member) else select(known, (item,)))
    return tuple(out)


def training_member(status_dir: Path) -> Member:
    """The training exporter alone, reading ``status_dir`` (a test writes the records),
    without NVML."""
    return Member(
        "training",
        argv=("-m", "exporters", "training", "--web.listen-address={listen}",
              f"--directory={status_dir}", "--no-collector.gpu"),
    )


StartLiveStack = Callable[..., LiveStack]


@pytest.fixture(scope="module")
def live_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartLiveStack]:
    """A factory: ``live_stack(members=["system"], settings={...}, extra_targets={...},
    extra_rule_files=(...), topology="ha")`` starts a stack and returns once Prometheus sees
    every target up (the stack is stopped when the module's tests are done)."""
    started: list[tuple[Stack, WebhookReceiver]] = []

    def start(
        members: Sequence[str | Member] | str = ("system",),
        settings: Mapping[str, Any] | None = None,
        extra_targets: Mapping[str, tuple[str, ...]] | None = None,
        extra_rule_files: Sequence[Path] = (),
        topology: str = "single",
    ) -> LiveStack:
        _require_binaries()
        chosen = resolve_members(members)
        webhook = WebhookReceiver().start()
        merged = {**LIVE_SETTINGS, "webhook_override_url": webhook.url, **(settings or {})}
        stack = Stack(StackConfig(
            state_dir=tmp_path_factory.mktemp("stack"),
            members=chosen,
            settings=merged,
            extra_targets=dict(extra_targets or {}),
            extra_rule_files=tuple(extra_rule_files),
            ready_timeout_seconds=30.0,
            topology=topology,
        ))
        started.append((stack, webhook))
        try:
            stack.start()
        except StackError as err:
            pytest.fail(f"the live stack did not start: {err}")
        live = LiveStack(stack, webhook)
        live.wait_for_targets_up(timeout=30)
        return live

    yield start
    for stack, webhook in reversed(started):
        stack.stop()
        webhook.stop()


def load_catalogue() -> Catalogue:
    """The validated catalogue, as the generator sees it."""
    from generator.catalogue import load

    catalogue: Catalogue = load()
    return catalogue


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    """:func:`load_catalogue`, once for the live tests."""
    return load_catalogue()


def expected_receiver(catalogue: Catalogue, team: str, severity: str) -> str:
    """The first receiver the routing policy names for (team, severity): for a critical
    alert the pager of its team (every route also reaches further receivers)."""
    for route in catalogue.routing.routes:
        if route.team == team and route.severity == severity:
            return route.receivers[0]
    return catalogue.routing.default_receiver


@contextlib.contextmanager
def demo_traffic(stack: LiveStack, every_s: float, most: int) -> Iterator[list[int]]:
    """Requests to the demo app every ``every_s`` seconds (``most`` at most) from a
    thread, while the block runs; yields the statuses answered so far."""
    base = f"http://{stack.address('app')}"
    statuses: list[int] = []
    stop = threading.Event()

    def drive() -> None:
        for i in range(most):
            if stop.wait(every_s):
                return
            statuses.append(scrape(f"{base}/api/items/{i}", timeout=5)[0])

    thread = threading.Thread(target=drive, daemon=True)
    thread.start()
    try:
        yield statuses
    finally:
        stop.set()
        thread.join(timeout=10)
