"""``--web.config.file`` in exporter-toolkit's format: TLS, mTLS and bcrypt basic auth.

The file (and the certificate, key and CA files it names) is watched by mtime: a change
is applied to the next connection or request without a restart. A bad file at start is
a :class:`WebConfigError`; a bad file on reload keeps the last good one and logs why.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import re
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_log = logging.getLogger("promfleet.webconfig")

CLIENT_AUTH_TYPES = (
    "NoClientCert",
    "RequestClientCert",
    "RequireAnyClientCert",
    "VerifyClientCertIfGiven",
    "RequireAndVerifyClientCert",
)
_TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
_TLS_KEYS = {
    "cert_file",
    "key_file",
    "client_auth_type",
    "client_ca_file",
    "min_version",
    "max_version",
    # Accepted for compatibility; Python's ssl module picks ciphers and curves itself.
    "cipher_suites",
    "curve_preferences",
    "prefer_server_cipher_suites",
}
_TOP_KEYS = {"tls_server_config", "basic_auth_users", "http_server_config"}
_HTTP_KEYS = {"http2", "headers"}
_BCRYPT_RE = re.compile(r"^\$2[abxy]?\$\d\d\$[./A-Za-z0-9]{53}$")
_AUTH_CACHE_MAX = 1024


class WebConfigError(ValueError):
    """The web configuration cannot be used; the message names every problem."""


@dataclass(frozen=True)
class TLSConfig:
    cert_file: str
    key_file: str
    client_auth_type: str = "NoClientCert"
    client_ca_file: str = ""
    min_version: str = "TLS12"
    max_version: str = ""


@dataclass(frozen=True)
class WebConfig:
    tls: TLSConfig | None = None
    users: Mapping[str, str] = field(default_factory=dict, repr=False)  # user -> bcrypt hash
    headers: Mapping[str, str] = field(default_factory=dict)

    def watched_files(self, path: str) -> tuple[str, ...]:
        files = [path]
        if self.tls is not None:
            files += [self.tls.cert_file, self.tls.key_file]
            if self.tls.client_ca_file:
                files.append(self.tls.client_ca_file)
        return tuple(files)


def _resolve(base: Path, name: Any) -> str:
    path = Path(str(name))
    return str(path if path.is_absolute() else base / path)


def parse_web_config(text: str, base_dir: Path) -> WebConfig:
    """Validate a web config document; relative file names are relative to ``base_dir``."""
    import yaml  # on first use: only an exporter given a web config reads YAML here

    problems: list[str] = []
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise WebConfigError(f"not valid YAML ({type(err).__name__})") from err
    if data is None:
        return WebConfig()
    if not isinstance(data, dict):
        raise WebConfigError("expected a mapping at the top level")
    problems += [f"unknown key {k!r}" for k in sorted(set(map(str, data)) - _TOP_KEYS)]

    tls: TLSConfig | None = None
    raw_tls = data.get("tls_server_config")
    if raw_tls is not None:
        if not isinstance(raw_tls, dict):
            problems.append("tls_server_config: expected a mapping")
        else:
            unknown = sorted(set(map(str, raw_tls)) - _TLS_KEYS)
            problems += [f"tls_server_config: unknown key {k!r}" for k in unknown]
            cert = raw_tls.get("cert_file")
            key = raw_tls.get("key_file")
            if not cert:
                problems.append("tls_server_config: cert_file is required")
            if not key:
                problems.append("tls_server_config: key_file is required")
            auth = str(raw_tls.get("client_auth_type") or "NoClientCert")
            if auth not in CLIENT_AUTH_TYPES:
                problems.append(
                    f"tls_server_config: client_auth_type {auth!r} is not one of "
                    + ", ".join(CLIENT_AUTH_TYPES)
                )
            ca = raw_tls.get("client_ca_file") or ""
            if ca and auth == "NoClientCert":
                problems.append(
                    "tls_server_config: client_ca_file is set but client_auth_type is NoClientCert"
                )
            if not ca and auth in (
                "RequireAnyClientCert",
                "VerifyClientCertIfGiven",
                "RequireAndVerifyClientCert",
            ):
                problems.append(f"tls_server_config: client_auth_type {auth} needs client_ca_file")
            versions = {}
            for key_name in ("min_version", "max_version"):
                value = raw_tls.get(key_name)
                if value is not None and str(value) not in _TLS_VERSIONS:
                    problems.append(
                        f"tls_server_config: {key_name} {value!r} is not one of "
                        + ", ".join(_TLS_VERSIONS)
                    )
                versions[key_name] = str(value) if value is not None else ""
            if cert and key:
                tls = TLSConfig(
                    cert_file=_resolve(base_dir, cert),
                    key_file=_resolve(base_dir, key),
                    client_auth_type=auth,
                    client_ca_file=_resolve(base_dir, ca) if ca else "",
                    min_version=versions["min_version"] or "TLS12",
                    max_version=versions["max_version"],
                )

    users: dict[str, str] = {}
    raw_users = data.get("basic_auth_users")
    if raw_users is not None:
        if not isinstance(raw_users, dict):
            problems.append("basic_auth_users: expected a mapping of user to bcrypt hash")
        else:
            for user, hashed in raw_users.items():
                if not isinstance(hashed, str) or not _BCRYPT_RE.match(hashed):
                    # The hash is not printed: it is a secret's fingerprint.
                    problems.append(f"basic_auth_users: user {user!r} has no valid bcrypt hash")
                else:
                    users[str(user)] = hashed

    headers: dict[str, str] = {}
    raw_http = data.get("http_server_config")
    if raw_http is not None:
        if not isinstance(raw_http, dict):
            problems.append("http_server_config: expected a mapping")
        else:
            unknown = sorted(set(map(str, raw_http)) - _HTTP_KEYS)
            problems += [f"http_server_config: unknown key {k!r}" for k in unknown]
            raw_headers = raw_http.get("headers") or {}
            if not isinstance(raw_headers, dict):
                problems.append("http_server_config: headers must be a mapping")
            else:
                headers = {str(k): str(v) for k, v in raw_headers.items()}

    if problems:
        raise WebConfigError("; ".join(problems))
    config = WebConfig(tls=tls, users=users, headers=headers)
    if tls is not None:
        build_ssl_context(tls)  # refuses unreadable or mismatched certificate files now
    return config


def load_web_config(path: str) -> WebConfig:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise WebConfigError(f"cannot read {path}: {err.strerror}") from err
    return parse_web_config(text, Path(path).resolve().parent)


def build_ssl_context(tls: TLSConfig) -> ssl.SSLContext:
    """A server context for ``tls``; raises WebConfigError naming the file at fault."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = _TLS_VERSIONS[tls.min_version]
    if tls.max_version:
        ctx.maximum_version = _TLS_VERSIONS[tls.max_version]
    try:
        ctx.load_cert_chain(tls.cert_file, tls.key_file)
    except (OSError, ssl.SSLError) as err:
        raise WebConfigError(
            f"tls_server_config: cannot load cert_file {tls.cert_file} / key_file "
            f"{tls.key_file}: {err}"
        ) from err
    if tls.client_ca_file:
        try:
            ctx.load_verify_locations(cafile=tls.client_ca_file)
        except (OSError, ssl.SSLError) as err:
            raise WebConfigError(
                f"tls_server_config: cannot load client_ca_file {tls.client_ca_file}: {err}"
            ) from err
    # Python's ssl cannot accept an unverified client certificate, so the "Any" and
    # "Request" policies verify against client_ca_file when one is given.
    if tls.client_auth_type in ("RequireAnyClientCert", "RequireAndVerifyClientCert"):
        ctx.verify_mode = ssl.CERT_REQUIRED
    elif tls.client_auth_type == "VerifyClientCertIfGiven" or (
        tls.client_auth_type == "RequestClientCert" and tls.client_ca_file
    ):
        ctx.verify_mode = ssl.CERT_OPTIONAL
    else:
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _signature(files: tuple[str, ...]) -> tuple[tuple[int, int, int], ...]:
    out = []
    for name in files:
        try:
            st = os.stat(name)
        except OSError:
            out.append((-1, -1, -1))
        else:
            out.append((st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(out)


class WebConfigWatcher:
    """The current web config and SSL context, re-read when a watched file changes."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._config = load_web_config(path)  # WebConfigError propagates: exit 2 at start
        self._ssl = build_ssl_context(self._config.tls) if self._config.tls else None
        self._files = self._config.watched_files(path)
        self._sig = _signature(self._files)
        self._bad_sig: tuple[tuple[int, int, int], ...] | None = None

    def _refresh(self) -> None:
        sig = _signature(self._files)
        if sig == self._sig or sig == self._bad_sig:
            return
        with self._lock:
            if sig == self._sig:
                return
            try:
                config = load_web_config(self.path)
                context = build_ssl_context(config.tls) if config.tls else None
            except WebConfigError as err:
                self._bad_sig = sig
                _log.error(
                    "web config reload failed; keeping the last good one",
                    extra={"fields": {"file": self.path, "error": str(err)}},
                )
                return
            self._config, self._ssl = config, context
            self._files = config.watched_files(self.path)
            self._sig = _signature(self._files)
            self._bad_sig = None
            _log.info("web config reloaded", extra={"fields": {"file": self.path}})

    def config(self) -> WebConfig:
        self._refresh()
        return self._config

    def ssl_context(self) -> ssl.SSLContext | None:
        self._refresh()
        return self._ssl


class BasicAuth:
    """Checks ``Authorization: Basic`` against bcrypt hashes, caching verified results.

    bcrypt costs ~100 ms by design; the cache is keyed by a digest of hash, user and
    password (as exporter-toolkit does), so a right or wrong password costs it once.
    """

    def __init__(self) -> None:
        self._cache: dict[bytes, bool] = {}
        self._lock = threading.Lock()
        self._dummy_hash: bytes | None = None

    @property
    def _dummy(self) -> bytes:
        """A hash to check unknown users against; made (and bcrypt imported) on first use."""
        if self._dummy_hash is None:
            import bcrypt

            self._dummy_hash = bcrypt.hashpw(b"promfleet-dummy", bcrypt.gensalt(rounds=4))
        return self._dummy_hash

    def _key(
        self, header: str | None, users: Mapping[str, str]
    ) -> tuple[bytes, bytes, bytes, bool] | None:
        """(cache key, password, stored hash, user known), or None for a malformed header."""
        if not header or not header.startswith("Basic "):
            return None
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        user, sep, password = decoded.partition(":")
        if not sep:
            return None
        hashed = users.get(user)
        stored = hashed.encode() if hashed is not None else self._dummy
        key = hashlib.sha256(stored + b"\0" + user.encode() + b"\0" + password.encode()).digest()
        return key, password.encode(), stored, hashed is not None

    def cached(self, header: str | None, users: Mapping[str, str]) -> bool | None:
        """The answer without bcrypt, or None when bcrypt must run (see :meth:`check`)."""
        if not users:
            return True
        parts = self._key(header, users)
        if parts is None:
            return False
        with self._lock:
            return self._cache.get(parts[0])

    def check(self, header: str | None, users: Mapping[str, str]) -> bool:
        """Whether the header names a user and its password; may run bcrypt (slow)."""
        if not users:
            return True
        parts = self._key(header, users)
        if parts is None:
            return False
        key, password, stored, known = parts
        with self._lock:
            cached = self._cache.get(key)
        if cached is None:
            import bcrypt  # already loaded by _dummy or here once: a dictionary lookup

            # An unknown user still pays for one bcrypt, so timing does not tell users apart.
            cached = bcrypt.checkpw(password, stored) and known
            with self._lock:
                if len(self._cache) >= _AUTH_CACHE_MAX:
                    self._cache.clear()
                self._cache[key] = cached
        return cached
