"""Offline checks of deploy/: every Kubernetes object against the prometheus-operator CRD
schemas (``tests/schemas/prometheus-operator/``, the operator's 0.93 CRDs), each child
route of an AlertmanagerConfig against the route schema too (the CRD leaves child routes
unchecked), and every Thanos and Mimir rule file through ``promtool check rules`` once
the fields Prometheus' own promtool does not know are stripped.

``python -m generator.deploylint [--root DIR]``: exit status 1 names each problem.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from generator.render.mimir import MIMIR_ONLY_GROUP_FIELDS, MIMIR_ONLY_TOP_FIELDS
from generator.render.thanos import THANOS_ONLY_GROUP_FIELDS

REPO_ROOT = Path(__file__).resolve().parent.parent
SCHEMA_DIR = REPO_ROOT / "tests" / "schemas" / "prometheus-operator"
DEPLOY = "deploy"
# What each engine adds to a Prometheus rule file: (top-level fields, group fields).
ENGINE_FIELDS = {
    "thanos": ((), THANOS_ONLY_GROUP_FIELDS),
    "mimir": (MIMIR_ONLY_TOP_FIELDS, MIMIR_ONLY_GROUP_FIELDS),
}
_DNS_SUBDOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


class _CrdLoader(yaml.CSafeLoader):
    """The CRDs hold an unquoted ``=`` (a matcher's enum), which YAML 1.1 tags as a
    "value" node that PyYAML cannot build; it is the string ``=``."""


def _value_as_text(loader: yaml.BaseLoader, node: yaml.Node) -> str:
    return str(node.value)


_CrdLoader.add_constructor("tag:yaml.org,2002:value", _value_as_text)


def _python_patterns(node: Any) -> Any:
    """Go's RE2 allows ``^(?i)...``; Python wants global flags first: ``(?i)^...``."""
    if isinstance(node, dict):
        out = {k: _python_patterns(v) for k, v in node.items()}
        if isinstance(out.get("pattern"), str) and out["pattern"].startswith("^(?i)"):
            out["pattern"] = "(?i)^" + out["pattern"][len("^(?i)"):]
        return out
    if isinstance(node, list):
        return [_python_patterns(v) for v in node]
    return node


@cache
def crd_schemas(directory: Path = SCHEMA_DIR) -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> the object's openAPIV3Schema, for every CRD in ``directory``."""
    schemas = {}
    for path in sorted(directory.glob("*.yaml")):
        crd = yaml.load(path.read_text(encoding="utf-8"), Loader=_CrdLoader)
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schema = version["schema"]["openAPIV3Schema"]
            schemas[(f"{group}/{version['name']}", kind)] = _python_patterns(schema)
    return schemas


def _errors(instance: Any, schema: Mapping[str, Any], where: str) -> list[str]:
    validator = jsonschema.Draft7Validator(schema)
    return [
        f"{where}: {'/'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}"
        for error in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    ]


def _child_routes(route: Mapping[str, Any], where: str) -> Iterator[tuple[str, Any]]:
    for index, child in enumerate(route.get("routes") or ()):
        path = f"{where}/routes/{index}"
        yield path, child
        if isinstance(child, Mapping):
            yield from _child_routes(child, path)


def object_problems(document: Any, where: str) -> list[str]:
    """What is wrong with one Kubernetes object (empty list when it is valid)."""
    if not isinstance(document, Mapping):
        return [f"{where}: not a Kubernetes object"]
    api, kind = document.get("apiVersion"), document.get("kind")
    name = (document.get("metadata") or {}).get("name", "")
    problems = []
    if not isinstance(name, str) or not _DNS_SUBDOMAIN.match(name):
        problems.append(f"{where}: metadata.name {name!r} is not a Kubernetes object name")
    if (api, kind) == ("v1", "ConfigMap"):
        data = document.get("data")
        if not isinstance(data, Mapping) or not all(isinstance(v, str) for v in data.values()):
            problems.append(f"{where}: a ConfigMap's data must map keys to text")
        return problems
    schema = crd_schemas().get((str(api), str(kind)))
    if schema is None:
        return [*problems, f"{where}: no CRD schema for {api} {kind}"]
    problems += _errors(document, schema, where)
    if kind == "AlertmanagerConfig":
        route_schema = schema["properties"]["spec"]["properties"]["route"]
        route = (document.get("spec") or {}).get("route") or {}
        for path, child in _child_routes(route, "spec/route"):
            problems += _errors(child, route_schema, f"{where}: {path}")
    return problems


def stripped_for_promtool(data: Mapping[str, Any], engine: str) -> dict[str, Any]:
    """A Thanos or Mimir rule file without the fields Prometheus' promtool refuses;
    everything else exactly as it was."""
    top, group_fields = ENGINE_FIELDS[engine]
    out = {k: v for k, v in data.items() if k not in top}
    out["groups"] = [
        {k: v for k, v in group.items() if k not in group_fields}
        for group in data.get("groups") or ()
    ]
    return out


def promtool_problems(root: Path, promtool: str) -> tuple[int, list[str]]:
    """``promtool check rules`` on every stripped Thanos and Mimir file under ``root``
    (one promtool run for them all; a failure names the deploy/ files)."""
    with tempfile.TemporaryDirectory(prefix="deploylint-") as tmp:
        names: dict[str, str] = {}
        for engine in ENGINE_FIELDS:
            for path in sorted((root / DEPLOY / engine).glob("*.yml")):
                data = yaml.safe_load(path.read_text(encoding="utf-8"))
                target = Path(tmp) / f"{engine}-{path.name}"
                target.write_text(yaml.safe_dump(stripped_for_promtool(data, engine)),
                                  encoding="utf-8")
                names[str(target)] = path.relative_to(root).as_posix()
        if not names:
            return 0, []
        result = subprocess.run(
            [promtool, "check", "rules", *names],
            capture_output=True, text=True, timeout=300, check=False,
        )
    if result.returncode == 0:
        return len(names), []
    detail = result.stdout + result.stderr
    for temporary, name in names.items():
        detail = detail.replace(temporary, name)
    failed = sorted({name for name in names.values() if f"{name}:" in detail})
    return len(names), [
        f"{name}: promtool check rules failed once stripped of its engine's fields"
        for name in failed
    ] + [f"promtool said:\n{detail.strip()}"]


def check(root: Path, promtool: str | None) -> tuple[list[str], list[str]]:
    """(problems, summary lines) for deploy/ under ``root``."""
    problems: list[str] = []
    objects = 0
    kubernetes = sorted((root / DEPLOY / "kubernetes").glob("*.yml"))
    if not kubernetes:
        problems.append(f"{DEPLOY}/kubernetes: no objects found")
    for path in kubernetes:
        objects += 1
        problems += object_problems(yaml.safe_load(path.read_text(encoding="utf-8")),
                                    str(path.relative_to(root)))
    summary = [f"{objects} Kubernetes objects checked against the operator's CRDs"]
    if promtool is None:
        summary.append("promtool not installed: Thanos and Mimir files not checked")
    else:
        checked, found = promtool_problems(root, promtool)
        problems += found
        summary.append(f"{checked} Thanos and Mimir rule files through promtool check rules")
    return problems, summary


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m generator.deploylint",
                                     description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="repository root")
    args = parser.parse_args(argv)
    problems, summary = check(args.root, shutil.which("promtool"))
    for problem in problems:
        print(problem)
    print(f"deploylint: {'; '.join(summary)}: {'FAILED' if problems else 'ok'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
