"""README "Deploying at scale" says what deploy/ holds and how to apply it: the files it
names are the files generated, the commands' globs and Secret cover them, and the
settings table matches the settings' defaults."""

from __future__ import annotations

import dataclasses
import fnmatch
import re
from pathlib import Path
from typing import Any

import yaml

from generator.catalogue import load
from generator.model import Settings
from generator.render import kubernetes
from generator.render.alertmanager import secret_files

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def section() -> str:
    start = README.index("## Deploying at scale\n")
    return README[start : README.index("\n## ", start + 1)]


def committed(under: str) -> list[str]:
    return sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / under).rglob("*.yml"))


def test_the_file_table_names_exactly_the_files_generated() -> None:
    patterns = re.findall(r"^\| `(deploy/[^`]+)` \|", section(), flags=re.MULTILINE)
    globs = [re.sub(r"<[a-z]+>", "*", p) for p in patterns]
    files = committed("deploy")
    assert files
    for pattern in globs:
        assert fnmatch.filter(files, pattern), f"README names {pattern}, nothing matches"
    for path in files:
        assert any(fnmatch.fnmatch(path, g) for g in globs), f"README does not name {path}"


def test_the_commands_globs_load_every_thanos_and_mimir_file() -> None:
    text = section()
    thanos = re.search(r"--rule-file='(deploy/thanos/[^']+)'", text)
    mimir = re.search(r"mimirtool rules load (deploy/mimir/\S+)", text)
    assert thanos and mimir
    assert fnmatch.filter(committed("deploy/thanos"), thanos.group(1)) == committed(
        "deploy/thanos")
    assert fnmatch.filter(committed("deploy/mimir"), mimir.group(1)) == committed("deploy/mimir")
    assert "kubectl apply -f deploy/kubernetes/" in text


def test_the_secret_the_readme_creates_holds_every_key_the_receivers_read() -> None:
    """``--from-file=<secrets_dir>/`` makes one key per file, named as the file: the keys
    the AlertmanagerConfig reads must be those names, in the Secret the README creates."""
    settings = Settings()
    match = re.search(r"create secret generic (\S+) --from-file=(\S+)/", section())
    assert match and match.group(1) == settings.kubernetes_secret
    assert match.group(2) == settings.secrets_dir
    files = {Path(p).name for p in secret_files(load(), settings)}  # with-secrets.sh's too
    config = yaml.safe_load((ROOT / "deploy" / "kubernetes" / "alertmanagerconfig.yml")
                            .read_text(encoding="utf-8"))
    keys: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("name") == settings.kubernetes_secret and set(node) == {"name", "key"}:
                keys.add(node["key"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(config["spec"]["receivers"])
    assert keys == files


def test_the_settings_table_gives_each_settings_default() -> None:
    rows = re.findall(r"^\| `([a-z_]+)` \| (.+?) \| .+ \|$", section(), flags=re.MULTILINE)
    defaults = {f.name: getattr(Settings(), f.name) for f in dataclasses.fields(Settings)}
    assert {name for name, _ in rows} >= {
        "kubernetes_namespace", "kubernetes_rule_labels", "kubernetes_secret",
        "kubernetes_probe_targets", "thanos_partial_response_strategy",
        "mimir_source_tenants", "prometheus_version", "version_gate"}
    for name, said in rows:
        value = defaults[name]
        if said == "none":
            assert value == (), name
        elif isinstance(value, tuple) and value and isinstance(value[0], tuple):
            assert yaml.safe_load(said.strip("`")) == dict(value), name
        elif isinstance(value, tuple):
            assert said.strip("`") == ",".join(value), name
        else:
            assert said.strip("`") == value, name


def test_the_templates_path_the_readme_gives_is_where_the_operator_mounts_the_configmap() -> None:
    text = section()
    assert f"spec.configMaps: [{kubernetes.TEMPLATES_CONFIGMAP}]" in text
    assert f"/etc/alertmanager/configmaps/{kubernetes.TEMPLATES_CONFIGMAP}/*.tmpl" in text
