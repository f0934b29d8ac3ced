"""--web.config.file: TLS, mTLS, bcrypt basic auth, and changes applied without a restart."""

from __future__ import annotations

import base64
import json
import os
import ssl
import time
import urllib.error
from collections.abc import Callable
from pathlib import Path

import bcrypt
import pytest
import trustme

from exporters.runtime.webconfig import BasicAuth, WebConfigError, load_web_config
from tests.helpers import ExporterProcess, run_exporter, sample_value, scrape

DEMO = "tests.fixtures.demo"
VALUE = "promfleet_demo_value"


def _hash(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()


def _basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def _replace(path: Path, text: str) -> None:
    """Write atomically, as secret rotation does (a new inode, so the change is seen)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _eventually(check: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def _server_files(tmp_path: Path, ca: trustme.CA, stem: str) -> tuple[Path, Path]:
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file = tmp_path / f"{stem}.crt", tmp_path / f"{stem}.key"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    return cert_file, key_file


def _client_context(ca: trustme.CA, client: trustme.LeafCert | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    if client is not None:
        client.configure_cert(ctx)
    return ctx


def test_tls_serves_metrics_over_https_only(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert_file, key_file = _server_files(tmp_path, ca, "server")
    web = tmp_path / "web.yml"
    web.write_text(f"tls_server_config:\n  cert_file: {cert_file}\n  key_file: {key_file}\n")
    ctx = _client_context(ca)
    with ExporterProcess(DEMO, f"--web.config.file={web}", scheme="https", ssl_context=ctx) as proc:
        status, _, text = scrape(proc.url + "/metrics", ssl_context=ctx)
        assert status == 200 and sample_value(text, VALUE, {"kind": "a"}) == 1.0
        with pytest.raises((OSError, urllib.error.URLError)):
            scrape(proc.url.replace("https", "http") + "/metrics", timeout=3)


def test_mtls_refuses_a_client_without_a_certificate_and_serves_one_with(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert_file, key_file = _server_files(tmp_path, ca, "server")
    ca_file = tmp_path / "clients.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    web = tmp_path / "web.yml"
    web.write_text(
        "tls_server_config:\n"
        f"  cert_file: {cert_file}\n  key_file: {key_file}\n"
        f"  client_ca_file: {ca_file}\n  client_auth_type: RequireAndVerifyClientCert\n"
    )
    with_cert = _client_context(ca, ca.issue_cert("scraper@promfleet"))
    without_cert = _client_context(ca)
    with ExporterProcess(
        DEMO, f"--web.config.file={web}", scheme="https", ssl_context=with_cert
    ) as proc:
        status, _, text = scrape(proc.url + "/metrics", ssl_context=with_cert)
        assert status == 200 and sample_value(text, VALUE, {"kind": "a"}) == 1.0
        with pytest.raises((OSError, urllib.error.URLError)):
            scrape(proc.url + "/metrics", ssl_context=without_cert, timeout=5)
        stranger = trustme.CA()
        foreign = _client_context(ca, stranger.issue_cert("intruder@elsewhere"))
        with pytest.raises((OSError, urllib.error.URLError)):
            scrape(proc.url + "/metrics", ssl_context=foreign, timeout=5)


def test_a_rotated_certificate_is_served_without_a_restart(tmp_path: Path) -> None:
    old_ca, new_ca = trustme.CA(), trustme.CA()
    cert_file, key_file = _server_files(tmp_path, old_ca, "server")
    web = tmp_path / "web.yml"
    web.write_text(f"tls_server_config:\n  cert_file: {cert_file}\n  key_file: {key_file}\n")
    old_ctx, new_ctx = _client_context(old_ca), _client_context(new_ca)
    with ExporterProcess(
        DEMO, f"--web.config.file={web}", scheme="https", ssl_context=old_ctx
    ) as proc:
        assert scrape(proc.url + "/metrics", ssl_context=old_ctx)[0] == 200
        new_cert, new_key = _server_files(tmp_path, new_ca, "rotated")
        _replace(key_file, new_key.read_text())
        _replace(cert_file, new_cert.read_text())

        def new_cert_served() -> bool:
            try:
                return scrape(proc.url + "/metrics", ssl_context=new_ctx, timeout=5)[0] == 200
            except (OSError, urllib.error.URLError):
                return False

        assert _eventually(new_cert_served)


def test_basic_auth_refuses_wrong_or_missing_credentials_with_401(tmp_path: Path) -> None:
    web = tmp_path / "web.yml"
    web.write_text(f"basic_auth_users:\n  prometheus: '{_hash('right-password')}'\n")
    good = _basic("prometheus", "right-password")
    with ExporterProcess(DEMO, f"--web.config.file={web}", wait_headers=good) as proc:
        status, headers, _ = scrape(proc.url + "/metrics")
        assert status == 401 and headers["www-authenticate"].startswith("Basic")
        status, headers, _ = scrape(proc.url + "/metrics", headers=_basic("prometheus", "wrong"))
        assert status == 401 and "www-authenticate" in headers
        status, _, _ = scrape(proc.url + "/metrics", headers=_basic("nobody", "right-password"))
        assert status == 401
        status, _, text = scrape(proc.url + "/metrics", headers=good)
        assert status == 200 and sample_value(text, VALUE, {"kind": "a"}) == 1.0


def test_a_rotated_password_applies_without_a_restart_and_a_bad_reload_keeps_it(
    tmp_path: Path,
) -> None:
    web = tmp_path / "web.yml"
    web.write_text(f"basic_auth_users:\n  prometheus: '{_hash('first')}'\n")
    first, second = _basic("prometheus", "first"), _basic("prometheus", "second")
    with ExporterProcess(DEMO, f"--web.config.file={web}", wait_headers=first) as proc:
        assert scrape(proc.url + "/metrics", headers=first)[0] == 200
        _replace(web, f"basic_auth_users:\n  prometheus: '{_hash('second')}'\n")
        assert _eventually(lambda: scrape(proc.url + "/metrics", headers=second)[0] == 200)
        assert scrape(proc.url + "/metrics", headers=first)[0] == 401

        _replace(web, "basic_auth_users:\n  prometheus: not-a-bcrypt-hash\n")
        assert scrape(proc.url + "/metrics", headers=second)[0] == 200
        assert _eventually(
            lambda: any(
                r.get("msg", "").startswith("web config reload failed") for r in proc.log_records()
            )
        )
    assert "second" not in proc.logs()


def test_a_bad_web_config_at_start_exits_2_naming_the_problem(tmp_path: Path) -> None:
    web = tmp_path / "web.yml"
    web.write_text(
        "tls_server_config:\n  cert_file: /nonexistent.crt\n  key_file: /nonexistent.key\n"
        "  client_auth_type: TrustEveryone\n"
    )
    result = run_exporter(DEMO, "--web.listen-address=127.0.0.1:0", f"--web.config.file={web}")
    assert result.returncode == 2
    assert "web.config.file" in result.stderr and "TrustEveryone" in result.stderr
    missing = run_exporter(
        DEMO, "--web.listen-address=127.0.0.1:0", f"--web.config.file={tmp_path / 'no.yml'}"
    )
    assert missing.returncode == 2 and "cannot read" in missing.stderr


def test_a_bad_web_config_is_named_in_the_same_message_as_bad_options_and_build(
    tmp_path: Path,
) -> None:
    web = tmp_path / "web.yml"
    web.write_text("basic_auth_users:\n  alice: plaintext\n")
    with_options = run_exporter(
        DEMO,
        "--web.listen-address=127.0.0.1:0",
        f"--web.config.file={web}",
        "--demo.value=zero",
    )
    with_build = run_exporter(
        DEMO, "--web.listen-address=127.0.0.1:0", f"--web.config.file={web}", "--demo.refuse"
    )
    for result, other in ((with_options, "demo.value"), (with_build, "build")):
        assert result.returncode == 2
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, result.stderr
        named = {p["option"] for p in json.loads(lines[0])["problems"]}
        assert named == {"web.config.file", other}
        assert "plaintext" not in result.stderr


def test_web_config_validation_names_each_problem(tmp_path: Path) -> None:
    web = tmp_path / "web.yml"
    web.write_text(
        "tls_server_config:\n  key_file: k.pem\n  min_version: TLS99\n"
        "basic_auth_users:\n  alice: plaintext\nextra: 1\n"
    )
    with pytest.raises(WebConfigError) as caught:
        load_web_config(str(web))
    message = str(caught.value)
    for part in ("cert_file is required", "TLS99", "alice", "unknown key 'extra'"):
        assert part in message
    assert "plaintext" not in message


def test_basic_auth_verifies_a_password_with_bcrypt_once_then_from_the_cache() -> None:
    users = {"prometheus": _hash("pw")}
    auth = BasicAuth()
    header = _basic("prometheus", "pw")["Authorization"]
    wrong = _basic("prometheus", "nope")["Authorization"]
    assert auth.cached(header, users) is None
    assert auth.check(header, users) is True
    assert auth.cached(header, users) is True
    assert auth.check(wrong, users) is False
    assert auth.cached(wrong, users) is False
    assert auth.check("Bearer x", users) is False
    # A rotated hash is a different cache key: the old answer does not carry over.
    assert auth.cached(header, {"prometheus": _hash("pw")}) is None
