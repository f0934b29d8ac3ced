"""The probe collector against HTTP(S) servers this test runs on loopback."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trustme
from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest

from exporters import probe
from exporters.probe import (
    METRICS,
    HttpProbe,
    ProbeConfig,
    ProbeTarget,
    parse_health,
    parse_targets,
    probe_timeout,
)
from exporters.spec import ScrapeContext
from tests.helpers import (
    assert_matches_declaration,
    promtool_check_metrics,
    run_exporter,
    sample_value,
    serve_app,
)

pytestmark = pytest.mark.anyio

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def serve(handler: Handler, ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[str]:
    """Serve ``handler`` at every path on a free loopback port; yields the base URL."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    async with serve_app(app, ssl_context) as url:
        yield url


def health(status: str, deps: dict[str, Any], code: int = 200) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"status": status, "dependencies": deps}, status=code)

    return handler


class _Families:
    """Collected families rendered through a registry, read like a scrape."""

    def __init__(self, families: Any) -> None:
        families = list(families)

        class _Once:
            def collect(self) -> Any:
                return families

        registry = CollectorRegistry()
        registry.register(_Once())
        self.text = generate_latest(registry).decode()

    def value(self, name: str, **labels: str) -> float | None:
        return sample_value(self.text, name, labels)


async def probe_once(target: ProbeTarget, seconds: float = 5.0, offset: float = 0.5) -> _Families:
    collector = HttpProbe(target, ProbeConfig(timeout_offset_seconds=offset))
    return _Families(await collector.collect(ScrapeContext.with_timeout(seconds)))


async def test_a_healthy_endpoint_reports_success_status_and_its_dependencies() -> None:
    async with serve(health("healthy", {"redis": True, "database": True})) as url:
        got = await probe_once(ProbeTarget("api", f"{url}/healthz"))
    assert got.value("promfleet_probe_success", target="api") == 1
    assert got.value("promfleet_probe_http_status_code", target="api") == 200
    assert got.value("promfleet_probe_health_status", target="api", status="healthy") == 1
    assert got.value("promfleet_probe_health_status", target="api", status="degraded") == 0
    assert got.value("promfleet_probe_dependency_up", target="api", dependency="redis") == 1
    assert got.value("promfleet_probe_failure", target="api", reason="timeout") == 0
    duration = got.value("promfleet_probe_duration_seconds", target="api")
    assert duration is not None and 0 < duration < 5
    # A plain-http probe has no certificate to report.
    assert "tls_certificate_expiry" not in got.text
    assert_matches_declaration(
        got.text,
        METRICS,
        allow_missing={"promfleet_probe_tls_certificate_expiry_timestamp_seconds"},
    )
    assert promtool_check_metrics(got.text) == []


async def test_a_degraded_endpoint_succeeds_but_names_the_dependency_that_is_down() -> None:
    async with serve(health("degraded", {"redis": False, "database": True})) as url:
        got = await probe_once(ProbeTarget("api", url))
    assert got.value("promfleet_probe_success", target="api") == 1
    assert got.value("promfleet_probe_health_status", target="api", status="degraded") == 1
    assert got.value("promfleet_probe_dependency_up", target="api", dependency="redis") == 0
    assert got.value("promfleet_probe_dependency_up", target="api", dependency="database") == 1


async def test_an_unhealthy_503_endpoint_fails_with_reason_status() -> None:
    async with serve(health("unhealthy", {"database": False}, code=503)) as url:
        got = await probe_once(ProbeTarget("api", url))
    assert got.value("promfleet_probe_success", target="api") == 0
    assert got.value("promfleet_probe_http_status_code", target="api") == 503
    assert got.value("promfleet_probe_failure", target="api", reason="status") == 1
    assert got.value("promfleet_probe_health_status", target="api", status="unhealthy") == 1


async def test_a_hanging_endpoint_times_out_at_the_deadline_minus_the_offset() -> None:
    release = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response(text="too late")

    async with serve(hang) as url:
        got = await probe_once(
            ProbeTarget("slow", url, timeout_seconds=30), seconds=1.5, offset=0.5
        )
        release.set()
    assert got.value("promfleet_probe_success", target="slow") == 0
    assert got.value("promfleet_probe_failure", target="slow", reason="timeout") == 1
    assert got.value("promfleet_probe_http_status_code", target="slow") == 0
    timeout = got.value("promfleet_probe_timeout_seconds", target="slow")
    assert timeout is not None and 0.9 < timeout <= 1.0
    # The server never answers: the test only finishes because the probe gave up on time.


async def test_a_refused_connection_fails_with_reason_connection() -> None:
    async with serve(health("healthy", {})) as url:
        pass  # the server is gone: the port now refuses
    got = await probe_once(ProbeTarget("gone", url))
    assert got.value("promfleet_probe_success", target="gone") == 0
    assert got.value("promfleet_probe_failure", target="gone", reason="connection") == 1


async def test_a_failed_probe_is_logged_with_its_target_in_the_json_fields(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with serve(health("healthy", {})) as url:
        pass  # the server is gone: the port now refuses
    with caplog.at_level(logging.INFO):
        await probe_once(ProbeTarget("gone", url))
    fields = [getattr(r, "fields", None) for r in caplog.records if r.message == "probe failed"]
    assert fields and fields[0]["target"] == "gone" and fields[0]["error"]


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _server_tls(ca: trustme.CA, not_after: dt.datetime) -> ssl.SSLContext:
    cert = ca.issue_cert("127.0.0.1", not_after=not_after)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context


async def test_an_untrusted_certificate_fails_with_reason_tls(ca: trustme.CA) -> None:
    not_after = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=30)
    async with serve(health("healthy", {}), _server_tls(ca, not_after)) as url:
        got = await probe_once(ProbeTarget("tls", url))  # system CAs do not know this one
    assert got.value("promfleet_probe_success", target="tls") == 0
    assert got.value("promfleet_probe_failure", target="tls", reason="tls") == 1
    expiry = "promfleet_probe_tls_certificate_expiry_timestamp_seconds"
    assert got.value(expiry, target="tls") is None


async def test_a_trusted_certificate_reports_its_expiry_time(ca: trustme.CA, tmp_path: Any) -> None:
    not_after = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=10)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    async with serve(health("healthy", {}), _server_tls(ca, not_after)) as url:
        got = await probe_once(ProbeTarget("tls", url, ca_file=str(ca_file)))
    assert got.value("promfleet_probe_success", target="tls") == 1
    expiry = got.value("promfleet_probe_tls_certificate_expiry_timestamp_seconds", target="tls")
    assert expiry == not_after.timestamp()


async def test_dependencies_past_the_cap_are_dropped_and_counted() -> None:
    deps = {f"dep{i:02d}": True for i in range(20)}
    deps["bad name with spaces"] = True
    async with serve(health("healthy", deps)) as url:
        collector = HttpProbe(ProbeTarget("api", url), ProbeConfig(dependencies_limit=3))
        got = _Families(await collector.collect(ScrapeContext.with_timeout(5)))
    assert got.text.count("promfleet_probe_dependency_up{") == 3
    assert got.value("promfleet_probe_dependencies_dropped", target="api") == 18


def test_a_health_body_that_is_not_json_is_status_unknown_with_listed_dependencies_down() -> None:
    assert parse_health(b"<html>ok</html>", ("redis",), 16) == ("unknown", {"redis": False}, 0)


def test_dependency_objects_with_a_status_word_are_understood() -> None:
    body = json.dumps({"status": "ok", "checks": {"db": {"status": "down"}, "mq": {"up": True}}})
    assert parse_health(body.encode(), (), 16) == ("healthy", {"db": False, "mq": True}, 0)


def test_a_components_map_as_blindspotx_answers_is_read_as_the_dependencies() -> None:
    # Words or objects with a status word; before, listing these reported each one down.
    body = json.dumps({
        "status": "degraded",
        "components": {"database": "healthy", "redis": {"status": "ok", "latency_ms": 2},
                       "oauth": "up", "drift": {"status": "down"}},
    })
    listed = ("database", "redis", "oauth", "drift")
    assert parse_health(body.encode(), listed, 16) == (
        "degraded",
        {"database": True, "redis": True, "oauth": True, "drift": False},
        0,
    )


def test_a_listed_dependency_set_drops_unlisted_names_and_reports_missing_ones_down() -> None:
    body = json.dumps({"status": "healthy", "dependencies": {"redis": True, "x": True}})
    assert parse_health(body.encode(), ("redis", "database"), 16) == (
        "healthy",
        {"redis": True, "database": False},
        1,
    )


def test_the_probe_timeout_keeps_the_offset_back_and_never_exceeds_the_target_timeout() -> None:
    assert probe_timeout(10.0, 0.5, 30.0) == 9.5
    assert probe_timeout(10.0, 0.5, 2.0) == 2.0
    assert probe_timeout(0.6, 0.5, 30.0) == pytest.approx(0.3)  # short deadline: half of it


def test_targets_reject_bad_urls_and_unknown_keys() -> None:
    with pytest.raises(ValueError, match="http"):
        parse_targets([{"name": "a", "url": "ftp://x"}])
    with pytest.raises(ValueError, match="unknown keys"):
        parse_targets([{"name": "a", "url": "http://x", "verify": False}])
    parsed = parse_targets("- {name: api, url: 'https://u:secret@h/healthz', timeout: 2s}")
    assert parsed[0].timeout_seconds == 2.0
    assert "secret" not in repr(parsed[0])


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"name": "api", "timeout": "soon"}, r"targets\[0\] \(api\): timeout: expected a duration"),
        ({"name": "api", "timeout": 0}, r"targets\[0\] \(api\): timeout: must be more than 0"),
        ({"name": "api", "valid_status": ["2xx"]}, r"targets\[0\] \(api\): valid_status: '2xx'"),
        ({"name": "api", "valid_status": [True]}, r"targets\[0\] \(api\): valid_status: True"),
        ({"name": "api", "health_json": "maybe"}, r"targets\[0\] \(api\): "),
        ({"name": "adhoc"}, r"targets\[0\] \(adhoc\): the name 'adhoc' is reserved"),
        ({"name": "no spaces"}, r"targets\[0\]: target name 'no spaces' must be"),
    ],
)
def test_a_bad_target_field_is_refused_with_the_entry_and_field_named(
    entry: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        parse_targets([{"url": "http://x", **entry}])


def test_valid_status_accepts_codes_as_numbers_or_digit_strings() -> None:
    (target,) = parse_targets([{"name": "a", "url": "http://x", "valid_status": [200, "503"]}])
    assert target.valid_status == (200, 503)


async def test_a_targets_tls_setting_is_made_once_not_for_every_probe(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made = 0
    original = ssl.create_default_context

    def counting(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        nonlocal made
        made += 1
        return original(*args, **kwargs)

    probe._ssl_for.cache_clear()
    monkeypatch.setattr(ssl, "create_default_context", counting)
    async with serve(health("healthy", {})) as url:
        collector = HttpProbe(ProbeTarget("api", url), ProbeConfig())
        for _ in range(3):
            got = _Families(await collector.collect(ScrapeContext.with_timeout(5)))
            assert got.value("promfleet_probe_success", target="api") == 1
    assert made == 1  # loading the CA store costs tens of milliseconds of CPU


def test_a_ca_file_that_cannot_be_loaded_stops_the_exporter_naming_the_target(
    tmp_path: Any,
) -> None:
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate\n")
    for ca_file in (tmp_path / "missing.pem", not_pem):
        config = tmp_path / "probe.yml"
        config.write_text(
            f"targets:\n- {{name: api, url: 'https://127.0.0.1:1/', ca_file: '{ca_file}'}}\n"
        )
        result = run_exporter("probe", f"--config.file={config}",
                              "--web.listen-address=127.0.0.1:0")
        assert result.returncode == 2, result.stderr
        assert f"target 'api': cannot load ca_file '{ca_file}'" in result.stderr


async def test_an_expired_certificate_fails_with_reason_tls_even_from_a_trusted_ca(
    ca: trustme.CA, tmp_path: Any
) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    cert = ca.issue_cert(
        "127.0.0.1", not_before=now - dt.timedelta(days=30), not_after=now - dt.timedelta(days=1)
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    async with serve(health("healthy", {}), context) as url:
        got = await probe_once(ProbeTarget("expired", url, ca_file=str(ca_file)))
    assert got.value("promfleet_probe_success", target="expired") == 0
    assert got.value("promfleet_probe_failure", target="expired", reason="tls") == 1
    # ...and its expiry is still published, in the past, so the expiry alert stays firing
    # (critical) instead of resolving the moment the certificate expires.
    expiry = got.value("promfleet_probe_tls_certificate_expiry_timestamp_seconds", target="expired")
    assert expiry == (now - dt.timedelta(days=1)).timestamp()


def _expired_cert_context(ca: trustme.CA, host: str = "127.0.0.1") -> ssl.SSLContext:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    cert = ca.issue_cert(
        host, not_before=now - dt.timedelta(days=30), not_after=now - dt.timedelta(hours=2)
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context


async def test_an_expired_certificate_from_an_untrusted_ca_has_no_expiry_published(
    ca: trustme.CA, tmp_path: Any
) -> None:
    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))  # trusts a different CA
    async with serve(health("healthy", {}), _expired_cert_context(ca)) as url:
        got = await probe_once(ProbeTarget("stranger", url, ca_file=str(other_ca)))
    assert got.value("promfleet_probe_failure", target="stranger", reason="tls") == 1
    expiry = "promfleet_probe_tls_certificate_expiry_timestamp_seconds"
    assert got.value(expiry, target="stranger") is None


async def test_an_expired_certificate_for_another_host_name_has_no_expiry_published(
    ca: trustme.CA, tmp_path: Any
) -> None:
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    async with serve(health("healthy", {}), _expired_cert_context(ca, "elsewhere.test")) as url:
        got = await probe_once(ProbeTarget("misnamed", url, ca_file=str(ca_file)))
    assert got.value("promfleet_probe_failure", target="misnamed", reason="tls") == 1
    expiry = "promfleet_probe_tls_certificate_expiry_timestamp_seconds"
    assert got.value(expiry, target="misnamed") is None


async def test_a_certificate_expiring_within_three_days_reports_its_expiry_and_succeeds(
    ca: trustme.CA, tmp_path: Any
) -> None:
    not_after = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=2)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    async with serve(health("healthy", {}), _server_tls(ca, not_after)) as url:
        got = await probe_once(ProbeTarget("soon", url, ca_file=str(ca_file)))
    assert got.value("promfleet_probe_success", target="soon") == 1
    expiry = got.value("promfleet_probe_tls_certificate_expiry_timestamp_seconds", target="soon")
    assert expiry == not_after.timestamp()


async def test_skipping_verification_accepts_an_untrusted_certificate_but_reports_no_expiry(
    ca: trustme.CA,
) -> None:
    not_after = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=30)
    async with serve(health("healthy", {}), _server_tls(ca, not_after)) as url:
        got = await probe_once(ProbeTarget("lab", url, insecure_skip_verify=True))
    assert got.value("promfleet_probe_success", target="lab") == 1
    assert got.value("promfleet_probe_health_status", target="lab", status="healthy") == 1
    # Only a verified certificate's expiry is published (the help text says so).
    expiry = "promfleet_probe_tls_certificate_expiry_timestamp_seconds"
    assert got.value(expiry, target="lab") is None


async def test_valid_status_accepts_a_listed_non_2xx_and_refuses_an_unlisted_200() -> None:
    async with serve(health("unhealthy", {}, code=503)) as url:
        listed = await probe_once(ProbeTarget("maint", url, valid_status=(200, 503)))
    async with serve(health("healthy", {})) as url:
        unlisted = await probe_once(ProbeTarget("odd", url, valid_status=(204,)))
    assert listed.value("promfleet_probe_success", target="maint") == 1
    assert listed.value("promfleet_probe_health_status", target="maint", status="unhealthy") == 1
    assert unlisted.value("promfleet_probe_success", target="odd") == 0
    assert unlisted.value("promfleet_probe_failure", target="odd", reason="status") == 1


async def test_a_target_without_a_health_body_reports_status_unknown_and_no_dependencies() -> None:
    async with serve(health("degraded", {"redis": False})) as url:
        got = await probe_once(ProbeTarget("plain", url, health_json=False))
    assert got.value("promfleet_probe_success", target="plain") == 1
    assert got.value("promfleet_probe_health_status", target="plain", status="unknown") == 1
    assert "promfleet_probe_dependency_up{" not in got.text


async def test_a_redirect_is_followed_to_the_health_body() -> None:
    async def handler(request: web.Request) -> web.Response:
        if request.path != "/healthz":
            raise web.HTTPFound("/healthz")
        return web.json_response({"status": "degraded", "dependencies": {"redis": False}})

    async with serve(handler) as url:
        got = await probe_once(ProbeTarget("moved", f"{url}/health"))
    assert got.value("promfleet_probe_http_status_code", target="moved") == 200
    assert got.value("promfleet_probe_health_status", target="moved", status="degraded") == 1


def test_a_deeply_nested_health_body_is_status_unknown_not_a_crash() -> None:
    assert parse_health(b"[" * 60_000, ("redis",), 16) == ("unknown", {"redis": False}, 0)
