"""The compose stack's demo writers: volumes shared with the exporters, flags, Dockerfile.

No Docker engine is needed: docker-compose resolves the file, the Dockerfile is read,
and the four services' commands are run here as local processes with the image's state
directory mapped to a temporary one, so the writers really feed the exporters.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

import topology
from generator.model import Settings
from generator.render import compose, prometheus
from runner.process import free_port
from tests.generator.catalogues import small_catalogue

ROOT = Path(__file__).resolve().parents[2]
WRITERS = {"security-demo": "security", "training-demo": "training"}


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    catalogue = small_catalogue()
    return {**compose.render(catalogue, Settings()), **prometheus.render(catalogue, Settings())}


@pytest.fixture(scope="module")
def document(rendered: dict[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(rendered["compose/docker-compose.yml"])
    return data


@pytest.fixture(scope="module")
def services(document: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = document["services"]
    return data


def _mounts(service: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    """Mount target -> (named volume or host path, writable)."""
    out = {}
    for volume in service.get("volumes", []):
        source, target, *mode = volume.split(":")
        out[target] = (source, mode != ["ro"])
    return out


def _flag(command: list[str], name: str) -> str:
    """The value of ``--name=VALUE`` or ``--name VALUE`` in a command."""
    for i, arg in enumerate(command):
        if arg == name:
            return command[i + 1]
        if arg.startswith(name + "="):
            return arg.partition("=")[2]
    raise AssertionError(f"{name} is not in {command}")


def _under(path: str, mounts: dict[str, tuple[str, bool]]) -> tuple[str, bool]:
    for target, mount in mounts.items():
        if posixpath.commonpath([path, target]) == target:
            return mount
    raise AssertionError(f"{path} is on no volume of the service (mounts: {sorted(mounts)})")


# The services and volumes --------------------------------------------------------------


def test_each_demo_writer_runs_its_module_from_the_exporter_image_as_a_non_root_user(
    services: dict[str, Any],
) -> None:
    for writer, exporter in WRITERS.items():
        service = services[writer]
        assert service["image"] == services[exporter]["image"] == compose.EXPORTER_IMAGE
        assert service["build"] == services[exporter]["build"]
        assert service["entrypoint"] == ["python", "-m", f"exporters.{exporter}.demo"]
        assert service["user"] == "10001:10001"
        assert service["read_only"] is True
        assert "ports" not in service and "expose" not in service  # serves nothing


def test_each_exporter_waits_for_its_writer_to_be_healthy(services: dict[str, Any]) -> None:
    for writer, exporter in WRITERS.items():
        assert services[exporter]["depends_on"] == {writer: {"condition": "service_healthy"}}
        assert services[exporter]["read_only"] is True


def test_writer_and_exporter_share_one_named_volume_at_the_same_mount_point(
    services: dict[str, Any], document: dict[str, Any]
) -> None:
    for writer, exporter in WRITERS.items():
        writes = _mounts(services[writer])
        reads = _mounts(services[exporter])
        assert len(writes) == 1, writes
        ((target, (volume, writable)),) = writes.items()
        assert writable
        assert reads[target][0] == volume
        assert volume in document["volumes"], f"{volume} is not a declared named volume"
        assert target.startswith(compose.STATE_DIR + "/")
    # training only reads; security keeps its positions and deny-list on the volume.
    assert not _mounts(services["training"])[compose.TRAINING_MOUNT][1]
    assert _mounts(services["security"])[compose.SECURITY_MOUNT][1]


def test_docker_compose_resolves_the_shared_volumes(
    rendered: dict[str, str], tmp_path: Path
) -> None:
    tool = shutil.which("docker-compose")
    assert tool, "docker-compose is not installed (Debian package; `make setup` installs it)"
    (tmp_path / "compose").mkdir()
    path = tmp_path / "compose" / "docker-compose.yml"
    path.write_text(rendered["compose/docker-compose.yml"], encoding="utf-8")
    result = subprocess.run(
        [tool, "-f", str(path), "config"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path / "compose",
    )
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)
    for writer, exporter in WRITERS.items():
        for name in (writer, exporter):
            volumes = resolved["services"][name]["volumes"]
            # The short form resolves to a named volume, not a bind mount of a host path.
            assert all(v["type"] == "volume" for v in volumes if isinstance(v, dict)), volumes
    assert {compose.SECURITY_VOLUME, compose.TRAINING_VOLUME} <= set(resolved["volumes"])


def test_prometheus_does_not_scrape_the_writers(rendered: dict[str, str]) -> None:
    config = yaml.safe_load(rendered["compose/prometheus.yml"])
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    assert not jobs & set(WRITERS)
    assert {"security", "training"} <= jobs


def test_the_writers_are_marked_as_demo_data_in_the_generated_file(
    rendered: dict[str, str],
) -> None:
    lines = rendered["compose/docker-compose.yml"].splitlines()
    for writer in WRITERS:
        at = lines.index(f"  {writer}:")
        comment: list[str] = []
        for line in reversed(lines[:at]):
            if not line.startswith("  # "):
                break
            comment.insert(0, line)
        text = " ".join(comment)
        assert "DEMO DATA" in text and "real deployment" in text, comment
    readme = (ROOT / "compose" / "README.md").read_text(encoding="utf-8")
    assert "demo data" in readme.lower()
    for writer in WRITERS:
        assert f"`{writer}`" in readme


def test_the_readme_gives_the_exporters_default_ports() -> None:
    readme = (ROOT / "compose" / "README.md").read_text(encoding="utf-8")
    ports = {s.name: s.port for s in compose.services()}
    assert "9105, 9108" in readme and (ports["security"], ports["training"]) == (9105, 9108)
    assert "9102" not in readme and "9103" not in readme


# The flags ---------------------------------------------------------------------------


def test_the_exporters_read_what_the_writers_write_on_the_shared_volume(
    services: dict[str, Any],
) -> None:
    training_w, training = services["training-demo"], services["training"]
    directory = _flag(training_w["command"], "--directory")
    assert _flag(training["command"], "--directory") == directory
    assert _under(directory, _mounts(training))[0] == _under(directory, _mounts(training_w))[0]

    security_w, security = services["security-demo"], services["security"]
    log = _flag(security_w["command"], "--log")
    (followed,) = json.loads(_flag(security["command"], "--logs"))
    assert followed["path"] == log
    mounts = _mounts(security)
    for path in (log, *followed["rotated"]):
        assert _under(path, mounts)[0] == _under(log, _mounts(security_w))[0]
    for name in ("--position.file", "--denylist.file"):
        source, writable = _under(_flag(security["command"], name), mounts)
        assert writable and source == compose.SECURITY_VOLUME, name


def test_the_compose_flags_are_the_loopback_stacks_with_the_images_state_directory(
    services: dict[str, Any],
) -> None:
    for name in (*WRITERS, *WRITERS.values()):
        argv = [a.replace("{state}", compose.STATE_DIR) for a in topology.service(name).argv]
        entrypoint = services[name].get("entrypoint", ["promfleet-exporter"])
        command = services[name]["command"]
        if name in WRITERS:
            assert ["-m", *argv[1:]] == [*entrypoint[1:], *command]
        else:
            port = services[name]["expose"][0]
            argv = [a.replace("{listen}", f":{port}") for a in argv]
            assert argv == ["-m", "exporters", *command]


def test_a_loopback_argument_compose_cannot_fill_is_refused() -> None:
    with pytest.raises(ValueError, match="addr:nosuch"):
        compose._in_container(("--url=http://{addr:nosuch}/",))
    with pytest.raises(ValueError, match="addr:security-demo"):  # a writer listens on nothing
        compose._in_container(("--url=http://{addr:security-demo}/",))
    # Another service is reached by its name on the compose network, on its table port.
    assert compose._in_container(("http://{addr:status-demo}/x",)) == (
        "http://status-demo:8090/x",)
    assert compose._in_container(("http://{addr:prometheus}/-/healthy",)) == (
        "http://prometheus:9090/-/healthy",)


def test_the_compose_probe_checks_the_same_targets_as_the_local_stack(
    services: dict[str, Any],
) -> None:
    targets = json.loads(services["probe"]["environment"]["PROMFLEET_PROBE_TARGETS"])
    local = json.loads(topology.probe_targets())
    assert [t["name"] for t in targets] == [t["name"] for t in local]
    assert {"browser-automation", "scheduler", "app"} <= {t["name"] for t in targets}
    for target in targets:
        host = target["url"].split("/")[2]
        name, _, port = host.partition(":")
        assert name in services and int(port) == topology.port(name), target
    assert compose._in_container(("{state}/x", "{listen}"), 9) == (
        f"{compose.STATE_DIR}/x",
        ":9",
    )


# The writers' healthcheck ---------------------------------------------------------------


def _healthcheck(path: Path) -> int:
    test = compose._fresh_check(str(path), 60)
    assert test[:2] == ("CMD", "python")
    return subprocess.run(
        [sys.executable, *test[2:]], capture_output=True, timeout=30, check=False
    ).returncode


def test_a_writers_healthcheck_passes_while_its_output_is_fresh_and_fails_otherwise(
    tmp_path: Path,
) -> None:
    log = tmp_path / "access.log"
    assert _healthcheck(log) != 0  # nothing written yet
    log.write_text("{}\n", encoding="utf-8")
    assert _healthcheck(log) == 0
    old = time.time() - 120
    os.utime(log, (old, old))
    assert _healthcheck(log) != 0
    # A directory counts as written when an entry in it is replaced, as the writer does.
    (tmp_path / "status").mkdir()
    os.utime(tmp_path / "status", (old, old))
    assert _healthcheck(tmp_path / "status") != 0
    (tmp_path / "status" / ".new.tmp").write_text("{}", encoding="utf-8")
    os.replace(tmp_path / "status" / ".new.tmp", tmp_path / "status" / "job.json")
    assert _healthcheck(tmp_path / "status") == 0


# The Dockerfile ------------------------------------------------------------------------


def _dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) with continuation lines joined and comments dropped."""
    text = (ROOT / "compose" / "Dockerfile").read_text(encoding="utf-8")
    logical, current = [], ""
    for line in text.splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        current += line.rstrip("\\").strip() + " "
        if not line.endswith("\\"):
            logical.append(current.strip())
            current = ""
    return [(ins.upper(), rest) for ins, _, rest in (line.partition(" ") for line in logical)]


def test_the_dockerfile_creates_every_volume_mount_point_owned_by_10001_as_root(
    services: dict[str, Any],
) -> None:
    instructions = _dockerfile()
    last_user = max(i for i, (ins, _) in enumerate(instructions) if ins == "USER")
    made: set[str] = set()
    owned: set[str] = set()
    for ins, rest in instructions[:last_user]:  # RUN as root, before USER 10001
        if ins != "RUN":
            continue
        for part in re.split(r"&&|;", rest):
            words = shlex.split(part)
            if words[:2] == ["mkdir", "-p"]:
                made.update(words[2:])
            if words[:3] == ["chown", "-R", "10001:10001"]:
                owned.update(words[3:])
    mount_points = {
        target
        for service in services.values()
        if service["image"] == compose.EXPORTER_IMAGE
        for target, (source, _) in _mounts(service).items()
        if not source.startswith((".", "/"))  # named volumes take the image's ownership
    }
    assert mount_points == {compose.SECURITY_MOUNT, compose.TRAINING_MOUNT}
    for target in mount_points:
        assert target in made, f"the Dockerfile does not create {target}"
        assert any(posixpath.commonpath([target, o]) == o for o in owned), (
            f"the Dockerfile does not give {target} to 10001"
        )
    assert instructions[last_user][1] == "10001:10001"


def test_the_dockerignore_keeps_local_state_out_of_the_build_context() -> None:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    for entry in (
        ".venv",
        "bench/.work",
        ".run",
        "**/__pycache__",
        ".git",
        ".pytest_cache",
        ".mypy_cache",
        ".ruff_cache",
        "compose/secrets",
    ):
        assert entry in lines, entry


# The four commands, run here ---------------------------------------------------------


def _local(service: dict[str, Any], state: Path, port: int | None) -> list[str]:
    """The container's command line as a local one: this Python, the state directory
    mapped, the listen address on loopback."""
    entrypoint = service.get("entrypoint") or ["promfleet-exporter"]  # the image's ENTRYPOINT
    head = {"python": [sys.executable], "promfleet-exporter": [sys.executable, "-m", "exporters"]}
    argv = [*head[entrypoint[0]], *entrypoint[1:]]
    for arg in service["command"]:
        arg = arg.replace(compose.STATE_DIR, str(state))
        if arg.startswith("--web.listen-address="):
            arg = f"--web.listen-address=127.0.0.1:{port}"
        argv.append(arg)
    return argv


@contextlib.contextmanager
def _running(
    argvs: dict[str, list[str]], logs: Path
) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMFLEET_")}
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, argv in argvs.items():
            with (logs / f"{name}.log").open("wb") as out:
                procs[name] = subprocess.Popen(
                    argv, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env
                )
        yield procs
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def _samples(port: int) -> dict[str, float]:
    """Each sample of one scrape, keyed ``name{labels}``; {} while it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
            text = reply.read().decode("utf-8")
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return {}
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}"] = sample.value
    return out


def _sum(samples: dict[str, float], name: str) -> float:
    return sum(v for k, v in samples.items() if k.startswith(name + "{"))


@pytest.mark.timeout(90)
def test_the_compose_commands_run_here_feed_the_training_and_security_exporters(
    services: dict[str, Any], tmp_path: Path
) -> None:
    state = tmp_path / "state"
    for mount in (compose.SECURITY_MOUNT, compose.TRAINING_MOUNT):  # what the volumes give
        (state / posixpath.relpath(mount, compose.STATE_DIR)).mkdir(parents=True)
    ports = {"security": free_port(), "training": free_port()}
    argvs = {
        name: _local(services[name], state, ports.get(name))
        for name in ("security-demo", "training-demo", "security", "training")
    }
    logs = tmp_path / "logs"
    logs.mkdir()
    fed = {
        "training": "promfleet_training_records",
        "security": "promfleet_security_log_lines_total",
    }
    seen: dict[str, float] = {}
    with _running(argvs, logs) as procs:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(seen) < len(fed):
            for name, metric in fed.items():
                value = _sum(_samples(ports[name]), metric)
                if value > 0:
                    seen[name] = value
            dead = {n: p.returncode for n, p in procs.items() if p.poll() is not None}
            if dead:
                break
            time.sleep(0.5)
        output = {
            n: (logs / f"{n}.log").read_text(encoding="utf-8", errors="replace")[-2000:]
            for n in argvs
        }
        assert not dead, f"exited early: {dead}; output: {output}"
        assert set(seen) == set(fed), f"no data reached {set(fed) - set(seen)}; output: {output}"
        samples = _samples(ports["security"])
        assert samples.get("promfleet_security_log_file_present{log=access}") == 1
    # Stopped cleanly, the security exporter kept its read position on its volume.
    positions = Path(_flag(argvs["security"], "--position.file"))
    assert positions.is_file() and positions.is_relative_to(state)
    assert "access" in json.loads(positions.read_text(encoding="utf-8"))["logs"]
