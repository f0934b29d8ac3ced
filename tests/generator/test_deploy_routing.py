"""The AlertmanagerConfig routes every alert as alertmanager.yml does, proven with amtool.

What the operator does with an AlertmanagerConfig (prometheus-operator's
``pkg/alertmanager`` conversion) is done here in small: receivers renamed
``<namespace>/<name>/<receiver>``, the object's top route put under a root with a
matcher ``namespace="<namespace>"``, the same matcher added to each inhibit rule, Secret
keys read into the configuration. Then ``amtool check-config`` and every case of
alertmanager/routing-tests.yml with the ``namespace`` label the PrometheusRules give every
alert. Without that label an alert matches nothing the object routes: the last test
shows the page that would be lost.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.__main__ import main

AMTOOL = shutil.which("amtool")
needs_amtool = pytest.mark.skipif(AMTOOL is None, reason="amtool not installed (.ci/setup)")
NAMESPACE, NAME = "monitoring", "promfleet"
_SNAKE = {"apiURL": "api_url", "httpConfig": "http_config"}


def snake(name: str) -> str:
    return _SNAKE.get(name) or re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)


def secret_value(key: str) -> str:
    return "https://hooks.example.org/secret" if key.endswith("api_url") else f"value-of-{key}"


def back(fields: Any) -> Any:
    """An operator receiver config as Alertmanager's: snake_case, secrets read in."""
    if isinstance(fields, list):
        return [back(v) for v in fields]
    if not isinstance(fields, dict):
        return fields
    out = {}
    for key, value in fields.items():
        if isinstance(value, dict) and set(value) == {"name", "key"}:
            out[snake(key)] = secret_value(value["key"])
        elif key == "headers":
            out["headers"] = {h["key"]: h["value"] for h in value}
        else:
            out[snake(key)] = back(value)
    return out


def matcher(m: dict[str, str]) -> str:
    return f'{m["name"]}{m["matchType"]}{yaml.safe_dump(m["value"], default_style=chr(34)).strip()}'


def qualified(receiver: str) -> str:
    return f"{NAMESPACE}/{NAME}/{receiver}"


def route(r: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in r.items():
        if key == "receiver":
            out["receiver"] = qualified(value)
        elif key == "matchers":
            out["matchers"] = [matcher(m) for m in value]
        elif key == "routes":
            out["routes"] = [route(c) for c in value]
        else:
            out[snake(key)] = value
    return out


def as_operator_would(obj: dict[str, Any], templates: Path) -> dict[str, Any]:
    spec = obj["spec"]
    top = route(spec["route"])
    top["matchers"] = [f'namespace="{NAMESPACE}"', *top.get("matchers", [])]
    top["continue"] = True
    ns = f'namespace="{NAMESPACE}"'
    return {
        "templates": [str(templates / "*.tmpl")],
        "route": {"receiver": "null", "routes": [top]},
        "receivers": [{"name": "null"}] + [
            {"name": qualified(r["name"]),
             **{snake(kind): back(configs) for kind, configs in r.items() if kind != "name"}}
            for r in spec["receivers"]
        ],
        "inhibit_rules": [
            {"source_matchers": [ns, *map(matcher, rule["sourceMatch"])],
             "target_matchers": [ns, *map(matcher, rule["targetMatch"])],
             **({"equal": rule["equal"]} if "equal" in rule else {})}
            for rule in spec["inhibitRules"]
        ],
    }


@pytest.fixture(scope="module")
def operator_config(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("generated")
    assert main(["--out", str(root)]) == 0
    kube = root / "deploy" / "kubernetes"
    templates = root / "operator-templates"
    templates.mkdir()
    configmap = yaml.safe_load((kube / "alertmanager-templates.yml").read_text())
    for name, text in configmap["data"].items():
        (templates / name).write_text(text)
    obj = yaml.safe_load((kube / "alertmanagerconfig.yml").read_text())
    path = root / "operator-alertmanager.yml"
    path.write_text(yaml.safe_dump(as_operator_would(obj, templates), sort_keys=False))
    return path, root / "alertmanager" / "routing-tests.yml"


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert AMTOOL is not None
    return subprocess.run([AMTOOL, *args], capture_output=True, text=True, timeout=60,
                          check=False)


@needs_amtool
def test_the_operators_configuration_passes_amtool_check_config(
    operator_config: tuple[Path, Path],
) -> None:
    config, _ = operator_config
    result = amtool("check-config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr


@needs_amtool
def test_every_routing_case_reaches_the_same_receivers_through_the_alertmanager_config(
    operator_config: tuple[Path, Path],
) -> None:
    config, cases_file = operator_config
    cases = yaml.safe_load(cases_file.read_text())["tests"]
    assert len(cases) > 100
    failures = []
    for case in cases:
        labels = {**case["labels"], "namespace": NAMESPACE}
        result = amtool("config", "routes", "test", f"--config.file={config}",
                        "--verify.receivers=" + ",".join(map(qualified, case["receivers"])),
                        *(f"{k}={v}" for k, v in sorted(labels.items())))
        if result.returncode != 0:
            failures.append(f"{case['name']}: {result.stdout.strip()}")
    assert not failures, "\n".join(failures)


@needs_amtool
def test_without_the_namespace_label_a_page_reaches_nobody(
    operator_config: tuple[Path, Path],
) -> None:
    config, cases_file = operator_config
    case = next(c for c in yaml.safe_load(cases_file.read_text())["tests"]
                if c["labels"].get("severity") == "critical")
    result = amtool("config", "routes", "test", f"--config.file={config}",
                    "--verify.receivers=null",
                    *(f"{k}={v}" for k, v in sorted(case["labels"].items())))
    assert result.returncode == 0, result.stdout
