"""What the deploy/ renderers (kubernetes, thanos, mimir) share: every rule file the other
renderers produced, read back and put through the version gate; settings that name rule
groups, checked against the groups that exist; and a block-YAML writer for documents
built as data (a module, not a renderer: its name starts with ``_``)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import PurePosixPath
from typing import Any, NamedTuple

from generator.model import Settings
from generator.parseback import load_yaml
from generator.render import render_template, yaml_scalar
from generator.settings import SettingsError
from generator.versions import GATE_NOTE_PREFIX, gate_groups, parse_version

# The group name a per-group setting uses for "every group not named".
EVERY_GROUP = "*"


class RuleFile(NamedTuple):
    """One rule file of rules/: ``stem`` names it (``system`` for rules/system.rules.yml,
    ``a-b`` for rules/a/b.yml), ``groups`` as parsed and gated, ``notes`` the gate's."""

    path: str
    stem: str
    groups: list[dict[str, Any]]
    notes: list[str]


def rule_files(outputs: Mapping[str, str], settings: Settings) -> list[RuleFile]:
    """Every rendered file under rules/ whose top level is a rule file's ``groups:`` list
    (promtool test files are not), in path order, through the version gate."""
    target = parse_version(settings.prometheus_version)
    found = []
    for path in sorted(outputs):
        if not path.startswith("rules/") or not path.endswith((".yml", ".yaml")):
            continue
        data = load_yaml(outputs[path])
        if not isinstance(data, Mapping) or not isinstance(data.get("groups"), list):
            continue
        groups, notes = gate_groups(data["groups"], path, target, settings.version_gate)
        # What the gate already left out of the source file is said again here.
        notes = [*_gate_notes(outputs[path]), *notes]
        relative = PurePosixPath(path).relative_to("rules").as_posix()
        stem = re.sub(r"(\.rules)?\.ya?ml$", "", relative).replace("/", "-")
        found.append(RuleFile(path, stem, groups, notes))
    return found


def _gate_notes(text: str) -> list[str]:
    notes = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        if line.startswith(f"# {GATE_NOTE_PREFIX}"):
            notes.append(line[2:])
    return notes


def check_group_settings(
    setting: str, named: Iterable[str], files: Iterable[RuleFile]
) -> None:
    """Refuse a per-group setting that names a group no rule file has (a typo would
    otherwise apply to nothing, silently)."""
    known = {str(g.get("name")) for f in files for g in f.groups}
    unknown = sorted(set(named) - known - {EVERY_GROUP})
    if unknown:
        raise SettingsError(
            f"bad settings:\n  {setting}: no rule group named {', '.join(map(repr, unknown))} "
            f"(groups: {', '.join(sorted(known))}, or {EVERY_GROUP!r} for every other group)"
        )


def for_group(pairs: Iterable[tuple[str, Any]], group: str) -> Any:
    """The value a per-group setting gives ``group``: its own, else ``*``'s, else None."""
    values = dict(pairs)
    return values.get(group, values.get(EVERY_GROUP))


_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_./-]*$")


def _key(key: Any) -> str:
    text = str(key)
    return text if _PLAIN_KEY.match(text) else yaml_scalar(text)


def _nested(value: Any) -> bool:
    return isinstance(value, Mapping | list | tuple) and len(value) > 0


def _flow(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{}"
    if isinstance(value, list | tuple):
        return "[]"
    return yaml_scalar(value)


def _emit(value: Any, indent: int, out: list[str]) -> None:
    pad = " " * indent
    if isinstance(value, Mapping):
        for key, item in value.items():
            if _nested(item):
                out.append(f"{pad}{_key(key)}:")
                _emit(item, indent + 2, out)
            else:
                out.append(f"{pad}{_key(key)}: {_flow(item)}")
        return
    for item in value:
        if _nested(item):
            sub: list[str] = []
            _emit(item, indent + 2, sub)
            out.append(f"{pad}- {sub[0][indent + 2:]}")
            out.extend(sub[1:])
        else:
            out.append(f"{pad}- {_flow(item)}")


def block_yaml(document: Mapping[str, Any]) -> str:
    """``document`` as block YAML, every scalar quoted by the ``yaml`` filter's rules."""
    out: list[str] = []
    _emit(document, 0, out)
    return "\n".join(out) + "\n"


def render_document(document: Mapping[str, Any], notes: Iterable[str] = ()) -> str:
    """A deploy/ file: the header, one comment line per note, then ``document``."""
    return render_template(
        "deploy.yml.j2", notes=list(notes), body=block_yaml(document).rstrip("\n")
    )
