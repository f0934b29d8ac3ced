"""The probe exporter: blackbox-style probes of HTTP health endpoints.

Static targets come from the ``targets`` option (one collector each, all probed on a
``/metrics`` scrape); ``/probe?target=NAME`` probes one. A probe's timeout is the
scrape deadline minus ``timeout-offset`` (and at most the target's own ``timeout``).
The health body is read as JSON ``{"status": "healthy|degraded|unhealthy",
"dependencies": {"redis": true}}`` (or ``checks``, or a ``components`` map as BlindspotX
answers, whose values may be booleans, words such as ``"ok"`` or objects with a
``status``); dependency names are capped and the overflow counted.
Labels carry the target's configured NAME, never its URL. aiohttp is imported by the
first probe, so reading ``METRICS`` (the generator, the docs) does not load it.

A certificate that has expired still has its expiry published: when the verified
handshake fails only because the certificate is out of its validity period, a second
handshake verifies it again without the time check (chain and host name still checked)
and reads its end date, so the expiry alert stays firing instead of resolving.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import ssl
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from prometheus_client.core import Metric

from exporters.families import Families
from exporters.spec import (
    Collector,
    CollectorDef,
    ExporterDef,
    MetricNamespace,
    MetricSpec,
    Option,
    OptionError,
    ScrapeContext,
    Settings,
    collector_enabled,
    config_of,
    metrics_of,
    options_of,
    parse_bool,
    parse_duration,
    parse_positive_int,
    setting,
)
from exporters.targets import TARGET_NAME, find_target, target_entries

if TYPE_CHECKING:
    import aiohttp

NS = "promfleet_probe"
log = logging.getLogger("promfleet.probe")

HEALTH_STATES = ("healthy", "degraded", "unhealthy", "unknown")
FAILURE_REASONS = ("connection", "timeout", "tls", "status")
_HEALTH_WORDS = {
    "healthy": "healthy", "ok": "healthy", "up": "healthy", "pass": "healthy",
    "degraded": "degraded", "warn": "degraded", "warning": "degraded",
    "unhealthy": "unhealthy", "down": "unhealthy", "fail": "unhealthy", "error": "unhealthy",
}  # fmt: skip
# Where a health body lists its dependencies: the first of these keys holding a map.
DEPENDENCY_KEYS = ("dependencies", "checks", "components")
DEPENDENCY_NAME = TARGET_NAME  # a label value either way: the same short name
MAX_BODY_BYTES = 64 * 1024
ADHOC_TARGET = "adhoc"


_m = MetricNamespace(NS, ("target",))


HTTP = CollectorDef(
    "http",
    "the HTTP(S) probe of each target (on /metrics and on /probe)",
    (
        _m("success", "gauge", "1 when the endpoint answered with an accepted status in time."),
        _m("duration_seconds", "gauge", "Seconds the probe took, connection to last body byte."),
        _m("http_status_code", "gauge", "HTTP status of the response (0 when none came)."),
        _m("timeout_seconds", "gauge", "The timeout this probe ran under (deadline minus offset)."),
        _m(
            "failure",
            "gauge",
            "1 for the reason the probe failed (connection, timeout, tls, status), else 0.",
            "reason",
        ),
        _m(
            "health_status",
            "gauge",
            "1 for the status the health body reported (healthy, degraded, unhealthy, unknown).",
            "status",
        ),
        _m(
            "dependency_up",
            "gauge",
            "1 when the health body reports the dependency up, 0 when down or not reported.",
            "dependency",
        ),
        _m(
            "dependencies_dropped",
            "gauge",
            "Dependencies in the health body left out: past the cap, unlisted or badly named.",
        ),
        _m(
            "tls_certificate_expiry_timestamp_seconds",
            "gauge",
            "Unix time the server's verified TLS leaf certificate expires (https only); also "
            "published once it has expired, when it is valid but for its dates.",
        ),
    ),
)
COLLECTORS: tuple[CollectorDef, ...] = (HTTP,)
METRICS: tuple[MetricSpec, ...] = metrics_of(*(c.metrics for c in COLLECTORS))
FAMILIES = Families(METRICS, f"{NS}_")


@dataclass(frozen=True)
class ProbeTarget:
    """One endpoint to probe; ``url`` may carry credentials, so it stays out of repr."""

    name: str
    url: str = field(repr=False)
    timeout_seconds: float = 10.0
    valid_status: tuple[int, ...] = ()  # empty: any 2xx
    ca_file: str | None = None
    insecure_skip_verify: bool = False
    health_json: bool = True
    dependencies: tuple[str, ...] = ()  # empty: whatever the body lists, capped


@dataclass(frozen=True)
class ProbeConfig:
    # The runtime already keeps its scrape.timeout-offset back from Prometheus' timeout;
    # this is the extra time kept for building the families after the probe returns.
    timeout_offset_seconds: float = setting(
        "timeout-offset", "kept back from the scrape deadline for the probe's timeout", 0.1,
        parse_duration)
    dependencies_limit: int = setting(
        "dependencies.limit", "most dependencies reported per target", 16, parse_positive_int)
    allow_urls: bool = setting(
        "allow-urls", "accept /probe?target=<http(s) URL> besides configured names "
        "(labelled target=\"adhoc\")", False, parse_bool)


@dataclass
class ProbeResult:
    """What one probe found (mutable while the probe runs, then turned into families)."""

    success: bool = False
    duration_seconds: float = 0.0
    status_code: int = 0
    timeout_seconds: float = 0.0
    failure: str | None = None
    health: str = "unknown"
    dependencies: dict[str, bool] = field(default_factory=dict)
    dropped: int = 0
    cert_expiry: float | None = None


def probe_timeout(remaining: float, offset: float, target_timeout: float) -> float:
    """The probe's own timeout: the deadline minus the offset, within the target's timeout.

    When less than twice the offset is left, half of what is left is used instead, so
    a short deadline still gets a (short) probe rather than none.
    """
    budget = remaining - offset if remaining > 2 * offset else remaining / 2
    return max(0.001, min(target_timeout, budget))


def parse_health(
    body: bytes, allowed: Sequence[str], limit: int
) -> tuple[str, dict[str, bool], int]:
    """(status, {dependency: up}, dropped) from a health body; "unknown" if not understood."""
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        # A deeply nested body exhausts the parser's recursion: not understood, not a crash.
        return "unknown", dict.fromkeys(allowed, False), 0
    if not isinstance(doc, Mapping):
        return "unknown", dict.fromkeys(allowed, False), 0
    raw_status = doc.get("status")
    status = (
        _HEALTH_WORDS.get(raw_status.lower(), "unknown")
        if isinstance(raw_status, str)
        else ("unknown")
    )
    raw_deps: Any = next(
        (doc[key] for key in DEPENDENCY_KEYS if isinstance(doc.get(key), Mapping)), {}
    )
    found: dict[str, bool] = {}
    dropped = 0
    if isinstance(raw_deps, Mapping):
        for name in sorted(raw_deps, key=str):
            if not isinstance(name, str) or not DEPENDENCY_NAME.match(name):
                dropped += 1
                continue
            if allowed and name not in allowed:
                dropped += 1
                continue
            if len(found) >= limit:
                dropped += 1
                continue
            found[name] = _dependency_up(raw_deps[name])
    for name in allowed:
        found.setdefault(name, False)
    return status, found, dropped


def _dependency_up(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, Mapping):
        for key in ("up", "healthy", "ok"):
            if isinstance(value.get(key), bool):
                return bool(value[key])
        value = value.get("status")
    if isinstance(value, str):
        return _HEALTH_WORDS.get(value.lower()) == "healthy"
    return False


def families(target: str, result: ProbeResult) -> list[Metric]:
    """Fresh metric families from one probe result (pure)."""
    batch = FAMILIES.start()
    add = batch.add
    only = (target,)
    add("success", only, 1.0 if result.success else 0.0)
    add("duration_seconds", only, result.duration_seconds)
    add("http_status_code", only, float(result.status_code))
    add("timeout_seconds", only, result.timeout_seconds)
    for reason in FAILURE_REASONS:
        add("failure", (target, reason), 1.0 if result.failure == reason else 0.0)
    for state in HEALTH_STATES:
        add("health_status", (target, state), 1.0 if result.health == state else 0.0)
    for name, up in sorted(result.dependencies.items()):
        add("dependency_up", (target, name), 1.0 if up else 0.0)
    add("dependencies_dropped", only, float(result.dropped))
    add("tls_certificate_expiry_timestamp_seconds", only, result.cert_expiry)
    return batch.list()


@functools.cache
def _ssl_for(ca_file: str | None, insecure_skip_verify: bool) -> ssl.SSLContext | bool:
    """The TLS setting of a target's probes, made once: loading the CA store costs tens
    of milliseconds of CPU. ``build`` makes each target's first, so a ``ca_file`` that
    cannot be loaded stops the exporter instead of failing every probe."""
    if insecure_skip_verify:
        return False
    return ssl.create_default_context(cafile=ca_file)


# OpenSSL's X509_V_FLAG_NO_CHECK_TIME (not exported by the ssl module), and the verify
# codes of a certificate outside its validity period.
_NO_CHECK_TIME = 0x200000
_OUT_OF_DATE = frozenset({9, 10})  # X509_V_ERR_CERT_NOT_YET_VALID, _CERT_HAS_EXPIRED


@functools.cache
def _ssl_without_time_check(ca_file: str | None) -> ssl.SSLContext:
    """The target's verification, except for the certificate's dates."""
    context = ssl.create_default_context(cafile=ca_file)
    context.verify_flags |= _NO_CHECK_TIME
    return context


def out_of_date(error: BaseException) -> bool:
    """True when a handshake failed only because a certificate is outside its dates."""
    return (
        isinstance(error, ssl.SSLCertVerificationError)
        and getattr(error, "verify_code", None) in _OUT_OF_DATE
    )


def _not_after(cert: Any) -> float | None:
    not_after = cert.get("notAfter") if isinstance(cert, dict) else None
    return float(ssl.cert_time_to_seconds(not_after)) if isinstance(not_after, str) else None


async def expired_certificate_expiry(
    host: str, port: int, ca_file: str | None, timeout: float
) -> float | None:
    """The end date of the certificate ``host:port`` presents, verified but for its dates.

    None when that handshake fails too (an untrusted chain, a wrong host name) or takes
    longer than ``timeout``: only a certificate the probe would trust has its date shown.
    """
    try:
        async with asyncio.timeout(max(0.001, timeout)):
            _, writer = await asyncio.open_connection(
                host, port, ssl=_ssl_without_time_check(ca_file), server_hostname=host
            )
    except (TimeoutError, OSError):  # ssl.SSLError is an OSError
        return None
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        return _not_after(ssl_object.getpeercert() if ssl_object is not None else None)
    finally:
        writer.close()


@functools.cache
def _cert_connector_class() -> type[aiohttp.TCPConnector]:
    """The connector class, defined on first use (it subclasses aiohttp's)."""
    import aiohttp

    class _CertConnector(aiohttp.TCPConnector):
        """Notes the verified peer certificate's expiry when a connection is made.

        The response may release its connection before the caller sees it (a small body
        is read with the headers), so the certificate is read here, at connect time.
        """

        cert_expiry: float | None = None

        async def _create_connection(self, req: Any, traces: Any, timeout: Any) -> Any:
            protocol = await super()._create_connection(req, traces, timeout)
            transport = getattr(protocol, "transport", None)
            ssl_object = (
                transport.get_extra_info("ssl_object") if transport is not None else None
            )
            expiry = _not_after(ssl_object.getpeercert() if ssl_object is not None else None)
            if expiry is not None:
                self.cert_expiry = expiry
            return protocol

    return _CertConnector


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}{':' + str(parts.port) if parts.port else ''}{parts.path}"


async def run_probe(target: ProbeTarget, timeout: float, config: ProbeConfig) -> ProbeResult:
    """Probe ``target`` once within ``timeout`` seconds; never raises for the endpoint."""
    import aiohttp

    result = ProbeResult(timeout_seconds=timeout)
    start = time.perf_counter()
    body = b""
    try:
        async with asyncio.timeout(timeout):
            connector = _cert_connector_class()(
                ssl=_ssl_for(target.ca_file, target.insecure_skip_verify),
                force_close=True,
                limit=1,
            )
            async with (
                aiohttp.ClientSession(connector=connector) as session,
                session.get(
                    target.url,
                    headers={"Accept": "application/json", "User-Agent": "promfleet-probe"},
                    allow_redirects=True,
                ) as response,
            ):
                result.status_code = response.status
                result.cert_expiry = getattr(connector, "cert_expiry", None)
                body = await response.content.read(MAX_BODY_BYTES)
    except TimeoutError:
        result.failure = "timeout"
    except aiohttp.ClientConnectorCertificateError as err:  # a certificate refused
        result.failure = "tls"
        if out_of_date(err.certificate_error) and not target.insecure_skip_verify:
            result.cert_expiry = await expired_certificate_expiry(
                err.host,
                err.port or 443,
                target.ca_file,
                timeout - (time.perf_counter() - start),
            )
    except aiohttp.ClientSSLError:  # the handshake failed
        result.failure = "tls"
    except (aiohttp.ClientError, OSError) as err:
        result.failure = "connection"
        log.info(
            "probe failed",
            extra={
                "fields": {
                    "target": target.name,
                    "url": _redacted(target.url),
                    "error": type(err).__name__,
                }
            },
        )
    result.duration_seconds = time.perf_counter() - start
    if result.failure is not None:
        return result
    accepted = (
        result.status_code in target.valid_status
        if target.valid_status
        else 200 <= result.status_code < 300
    )
    if target.health_json:
        result.health, result.dependencies, result.dropped = parse_health(
            body, target.dependencies, config.dependencies_limit
        )
    result.success = accepted
    if not accepted:
        result.failure = "status"
    return result


class HttpProbe(Collector):
    """Probes one configured endpoint per scrape::

    promfleet_probe_success{target="api"} 1.0
    promfleet_probe_http_status_code{target="api"} 200.0
    promfleet_probe_health_status{status="degraded",target="api"} 1.0
    promfleet_probe_dependency_up{dependency="redis",target="api"} 0.0
    """

    name = HTTP.name

    def __init__(self, target: ProbeTarget, config: ProbeConfig) -> None:
        self.target = target.name
        self.probe_target = target
        self.config = config

    async def collect(self, ctx: ScrapeContext) -> Iterable[Metric]:
        timeout = probe_timeout(
            ctx.remaining(), self.config.timeout_offset_seconds, self.probe_target.timeout_seconds
        )
        result = await run_probe(self.probe_target, timeout, self.config)
        return families(self.target, result)


# --- options ---------------------------------------------------------------------------


def _status_list(value: Any) -> tuple[int, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    out: list[int] = []
    for item in items:
        code = item if isinstance(item, int) and not isinstance(item, bool) else None
        if code is None and isinstance(item, str) and item.strip().isdigit():
            code = int(item)
        if code is None or not 100 <= code <= 599:
            raise ValueError(f"valid_status: {item!r} is not an HTTP status")
        out.append(code)
    return tuple(out)


_TARGET_KEYS = {
    "name", "url", "timeout", "valid_status", "ca_file", "insecure_skip_verify",
    "health_json", "dependencies",
}  # fmt: skip


def parse_targets(value: Any) -> tuple[ProbeTarget, ...]:
    """``targets``: a list of ``{name, url, timeout?, valid_status?, ca_file?,
    insecure_skip_verify?, health_json?, dependencies?}`` (YAML list, or YAML text)."""
    out: list[ProbeTarget] = []
    for where, name, item in target_entries(value, _TARGET_KEYS, "{name, url}"):
        if name == ADHOC_TARGET:
            raise ValueError(f"{where}: the name {ADHOC_TARGET!r} is reserved for ad-hoc URLs")
        url = item.get("url")
        if not isinstance(url, str) or urlsplit(url).scheme not in {"http", "https"}:
            raise ValueError(f"{where}: url must be http:// or https://")
        deps = item.get("dependencies") or []
        if not isinstance(deps, list) or not all(
            isinstance(d, str) and DEPENDENCY_NAME.match(d) for d in deps
        ):
            raise ValueError(f"{where}: dependencies must be a list of names")
        try:
            timeout = parse_duration(item.get("timeout", 10.0))
            if timeout <= 0:
                raise ValueError("must be more than 0")
        except ValueError as err:
            raise ValueError(f"{where}: timeout: {err}") from err
        try:
            valid_status = _status_list(item.get("valid_status"))
            insecure = parse_bool(item.get("insecure_skip_verify", False))
            health_json = parse_bool(item.get("health_json", True))
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from err
        out.append(
            ProbeTarget(
                name=name,
                url=url,
                timeout_seconds=timeout,
                valid_status=valid_status,
                ca_file=str(item["ca_file"]) if item.get("ca_file") else None,
                insecure_skip_verify=insecure,
                health_json=health_json,
                dependencies=tuple(deps),
            )
        )
    return tuple(out)


OPTIONS: tuple[Option, ...] = (
    Option("targets", "endpoints to probe: a list of {name, url, ...}", (), parse_targets,
           structured=True),
    *options_of(ProbeConfig),
)  # fmt: skip


def config_from(settings: Settings) -> ProbeConfig:
    return config_of(ProbeConfig, settings)


def build(settings: Settings) -> Sequence[Collector]:
    config = config_from(settings)
    targets: tuple[ProbeTarget, ...] = tuple(settings.get("targets") or ())
    for target in targets:
        try:
            _ssl_for(target.ca_file, target.insecure_skip_verify)
        except OSError as err:  # a missing or unreadable file; ssl.SSLError: no PEM in it
            raise OptionError(
                f"target {target.name!r}: cannot load ca_file {target.ca_file!r}: {err}"
            ) from err
    return tuple(HttpProbe(t, config) for t in targets)


def probe(settings: Settings, name: str, collectors: Sequence[Collector]) -> Sequence[Collector]:
    """The collector for ``/probe?target=NAME`` (or an ad-hoc URL when allowed).

    ``collectors`` are the active ones: with ``--no-collector.http`` there are none, and
    an ad-hoc URL is refused as well.
    """
    try:
        return find_target(settings, name, collectors)
    except KeyError:
        config = config_from(settings)
        if (
            config.allow_urls
            and collector_enabled(settings, HTTP)
            and urlsplit(name).scheme in {"http", "https"}
        ):
            return (HttpProbe(ProbeTarget(ADHOC_TARGET, name), config),)
        raise


EXPORTER = ExporterDef(
    name="probe",
    namespace=NS,
    description="HTTP health endpoints: success, latency, status, health body, TLS expiry",
    metrics=METRICS,
    collectors=COLLECTORS,
    options=OPTIONS,
    build=build,
    probe=probe,
    default_port=9115,
    multi_target=True,
    target_names=lambda settings: [t.name for t in settings.get("targets") or ()],
)
