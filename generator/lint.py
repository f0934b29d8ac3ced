"""Offline checks of the generated Grafana dashboards and of every link on-call follows.

``python -m generator.lint`` runs the dashboard linter (Grafana dashboard-linter's
rules, PromQL that parses, the Grafana dashboard JSON schema, unique uids and titles),
the truth checks of ``generator.panel_truth`` (healthy values not coloured as failing,
thresholds in the panel's unit, no always-firing alert among the annotations), and the
link checker (every alert has a runbook; every link in the runbooks and in the
rules' annotations resolves to a runbook file, a dashboard uid or a repository file;
other http(s) links are listed, never fetched). Exit status 1 names each problem.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import promql_parser

from generator import panel_truth
from generator.model import Settings
from generator.parseback import load_yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
SCHEMA_PATH = REPO_ROOT / "tests" / "schemas" / "grafana-dashboard.schema.json"

SCHEMA_VERSION = 39
DATASOURCE_REF = {"type": "prometheus", "uid": "${datasource}"}
PANEL_TYPES = frozenset({"timeseries", "stat", "gauge", "table"})
RATE_FUNCTIONS = frozenset({"rate", "irate", "increase"})

# Grafana's unit ids (packages/grafana-data/src/valueFormats/categories.ts), the list
# Grafana's dashboard-linter checks against.
GRAFANA_UNITS = frozenset(
    """
    none string short percent percentunit humidity dB hex0x hex sci locale pixel
    accMS2 accFS2 accG degree radian grad arcmin arcsec areaM2 areaF2 areaMI2
    flops mflops gflops tflops pflops eflops zflops yflops
    ppm conppb conngm3 conngNm3 conμgm3 conμgNm3 conmgm3 conmgNm3 congm3 congNm3 conmgdL conmmolL
    currencyUSD currencyGBP currencyEUR currencyJPY currencyRUB currencyUAH currencyBRL
    currencyDKK currencyISK currencyNOK currencySEK currencyCZK currencyCHF currencyPLN
    currencyBTC currencymBTC currencyμBTC currencyZAR currencyINR currencyKRW currencyIDR
    currencyPHP currencyVND
    bytes decbytes bits decbits kbytes deckbytes mbytes decmbytes gbytes decgbytes tbytes
    dectbytes pbytes decpbytes
    pps binBps Bps binbps bps KiBs Kibits KBs Kbits MiBs Mibits MBs Mbits GiBs Gibits GBs
    Gbits TiBs Tibits TBs Tbits PiBs Pibits PBs Pbits
    dateTimeAsIso dateTimeAsIsoNoDateIfToday dateTimeAsUS dateTimeAsUSNoDateIfToday
    dateTimeAsLocal dateTimeAsLocalNoDateIfToday dateTimeAsSystem dateTimeFromNow
    watt kwatt megwatt gwatt mwatt Wm2 voltamp kvoltamp voltampreact kvoltampreact watth
    watthperkg kwatth kwattm amph kamph mamph joule ev amp kamp mamp volt kvolt mvolt dBm
    ohm kohm Mohm farad µfarad nfarad pfarad ffarad henry mhenry µhenry lumens
    flowgpm flowcms flowcfs flowcfm litreh flowlpm flowmlpm lux
    forceNm forcekNm forceN forcekN Hs KHs MHs GHs THs PHs EHs
    massmg massg masslb masskg masst lengthmm lengthin lengthft lengthm lengthkm lengthmi
    pressurembar pressurebar pressurekbar pressurepa pressurehpa pressurekpa pressurehg
    pressurepsi
    radbq radci radgy radrad radsv radmsv radusv radrem radexpckg radr radsvh radmsvh radusvh
    rotrpm rothz rotrads rotdegs celsius fahrenheit kelvin
    hertz ns µs ms s m h d dtdurationms dtdurations dthms dtdhms timeticks clockms clocks
    cps ops reqps rps wps iops cpm opm rpm wpm
    velocityms velocitykmh velocitymph velocityknot mlitre litre m3 Nm3 dm3 gallons
    bool bool_yes_no bool_on_off
    """.split()  # noqa: SIM905  (a word list, as the source enumerates it)
)

# Grafana's interval variables, replaced by distinct sentinel durations so the query
# parses and the rate rule can tell $__rate_interval from a hard-coded window.
_RATE_INTERVAL_SECONDS = 86399
_INTERVAL_VARIABLES = {
    "__rate_interval": f"{_RATE_INTERVAL_SECONDS}s",
    "__interval": "86398s",
    "__range": "86397s",
    "__interval_ms": "86396",
    "__range_s": "86395",
}
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")


def substitute(expr: str) -> str:
    """Make a panel query parseable: interval variables become durations, others stay text.

    ``$job`` inside a matcher's string stays as it is (the job rule looks for it);
    a variable outside a string would not parse, which is the point.
    """

    def repl(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(3)
        if name in _INTERVAL_VARIABLES:
            return _INTERVAL_VARIABLES[name]
        return match.group(0)

    return _VARIABLE.sub(repl, expr)


def _children(node: Any) -> list[Any]:
    if isinstance(node, promql_parser.AggregateExpr):
        return [c for c in (node.param, node.expr) if c is not None]
    if isinstance(node, promql_parser.BinaryExpr):
        return [node.lhs, node.rhs]
    if isinstance(node, promql_parser.ParenExpr | promql_parser.UnaryExpr):
        return [node.expr]
    if isinstance(node, promql_parser.SubqueryExpr):
        return [node.expr]
    if isinstance(node, promql_parser.Call):
        return list(node.args)
    if isinstance(node, promql_parser.MatrixSelector):
        return [node.vector_selector]
    return []


def walk(node: Any, parents: tuple[Any, ...] = ()) -> Iterator[tuple[Any, tuple[Any, ...]]]:
    """Every node of a parsed query with its ancestors (nearest last)."""
    yield node, parents
    for child in _children(node):
        yield from walk(child, (*parents, node))


def _has_matcher(selector: Any, label: str, value: str) -> bool:
    return any(
        m.name == label and m.op == promql_parser.MatchOp.Re and m.value == value
        for m in selector.matchers.matchers
    )


def lint_query(expr: str) -> list[str]:
    """PromQL rules for one target: parses, $__rate_interval, job/instance, counters."""
    try:
        tree = promql_parser.parse(substitute(expr))
    except ValueError as err:
        return [f"target-promql-rule: does not parse ({err}): {expr}"]
    problems: list[str] = []
    for node, parents in walk(tree):
        if isinstance(node, promql_parser.Call) and node.func.name in RATE_FUNCTIONS:
            arg = node.args[0] if node.args else None
            ok = isinstance(arg, promql_parser.MatrixSelector) and arg.range == timedelta(
                seconds=_RATE_INTERVAL_SECONDS
            )
            if not ok:
                problems.append(
                    f"target-rate-interval-rule: {node.func.name}() must use "
                    f"[$__rate_interval]: {expr}"
                )
        if isinstance(node, promql_parser.VectorSelector):
            shown = node.name or str(node)
            if not _has_matcher(node, "job", "$job"):
                problems.append(f'target-job-rule: {shown} lacks job=~"$job": {expr}')
            if not _has_matcher(node, "instance", "$instance"):
                problems.append(
                    f'target-instance-rule: {shown} lacks instance=~"$instance": {expr}'
                )
            if (node.name or "").endswith("_total") and not (
                len(parents) >= 2
                and isinstance(parents[-1], promql_parser.MatrixSelector)
                and isinstance(parents[-2], promql_parser.Call)
                and parents[-2].func.name in RATE_FUNCTIONS
            ):
                problems.append(
                    f"target-counter-agg-rule: counter {node.name} is used outside "
                    f"rate/irate/increase: {expr}"
                )
    return problems


def _variable(dashboard: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    for var in dashboard.get("templating", {}).get("list", []):
        if isinstance(var, Mapping) and var.get("name") == name:
            return var
    return None


def _lint_variables(dashboard: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    ds = _variable(dashboard, "datasource")
    if ds is None or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        problems.append(
            "template-datasource-rule: needs a 'datasource' variable of type datasource "
            "querying prometheus"
        )
    for name, rule in (("job", "template-job-rule"), ("instance", "template-instance-rule")):
        var = _variable(dashboard, name)
        if var is None:
            problems.append(f"{rule}: needs a '{name}' template variable")
            continue
        if var.get("type") != "query":
            problems.append(f"{rule}: '{name}' must be a query variable")
        if var.get("datasource") != DATASOURCE_REF:
            problems.append(f"{rule}: '{name}' must use the templated datasource")
        if not (var.get("multi") and var.get("includeAll")):
            problems.append(f"{rule}: '{name}' must be multi-valued with an All option")
        if var.get("allValue") != ".*":
            problems.append(f"{rule}: '{name}' All value must be '.*' (matches absent labels)")
    for var in dashboard.get("templating", {}).get("list", []):
        if not isinstance(var, Mapping) or var.get("type") != "query":
            continue
        query = var.get("query")
        text = query.get("query", "") if isinstance(query, Mapping) else str(query or "")
        match = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\s*\)\s*", text)
        inner = match.group(1) if match else text
        try:
            promql_parser.parse(substitute(inner))
        except ValueError as err:
            problems.append(
                f"template-label-promql-rule: variable {var.get('name')!r} query "
                f"does not parse ({err}): {text}"
            )
    return problems


def _lint_thresholds(where: str, defaults: Mapping[str, Any]) -> list[str]:
    thresholds = defaults.get("thresholds")
    if thresholds is None:
        return []
    steps = thresholds.get("steps") or []
    problems: list[str] = []
    if thresholds.get("mode") != "absolute":
        problems.append(f"panel-thresholds-rule: {where}: thresholds mode must be absolute")
    if not steps or steps[0].get("value") is not None:
        problems.append(f"panel-thresholds-rule: {where}: first threshold step must be null")
    values = [s.get("value") for s in steps[1:]]
    if any(not isinstance(v, int | float) for v in values) or values != sorted(values):
        problems.append(f"panel-thresholds-rule: {where}: step values must be ascending numbers")
    return problems


def lint_panel(panel: Mapping[str, Any]) -> list[str]:
    """Panel rules; messages name the panel by its title (or id)."""
    where = f"panel {panel.get('title') or panel.get('id')!r}"
    problems: list[str] = []
    kind = panel.get("type")
    if kind == "row":
        return [f"panel-type-rule: {where}: rows are not used"]
    if kind not in PANEL_TYPES:
        problems.append(
            f"panel-type-rule: {where}: type {kind!r} is not one of {sorted(PANEL_TYPES)}"
        )
    if panel.get("datasource") != DATASOURCE_REF:
        problems.append(f"panel-datasource-rule: {where}: must use the templated datasource")
    if not str(panel.get("title", "")).strip():
        problems.append(f"panel-title-description-rule: {where}: has no title")
    if not str(panel.get("description", "")).strip():
        problems.append(f"panel-title-description-rule: {where}: has no description")
    defaults = panel.get("fieldConfig", {}).get("defaults", {})
    if defaults.get("unit") not in GRAFANA_UNITS:
        problems.append(
            f"panel-units-rule: {where}: unit {defaults.get('unit')!r} is not a Grafana unit"
        )
    problems.extend(_lint_thresholds(where, defaults))
    grid = panel.get("gridPos") or {}
    w, x = grid.get("w", 0), grid.get("x", 0)
    if not (
        isinstance(w, int) and isinstance(x, int) and 0 < w <= 24 and 0 <= x < 24 and x + w <= 24
    ):
        problems.append(f"panel-grid-rule: {where}: gridPos {grid} does not fit 24 columns")
    targets = panel.get("targets") or []
    if not targets:
        problems.append(f"panel-no-targets-rule: {where}: has no targets")
    for target in targets:
        if not target.get("refId"):
            problems.append(f"target-refid-rule: {where}: a target has no refId")
        if "datasource" in target and target["datasource"] != DATASOURCE_REF:
            problems.append(
                f"panel-datasource-rule: {where}: target must use the templated datasource"
            )
        expr = target.get("expr")
        if not isinstance(expr, str) or not expr.strip():
            problems.append(
                f"target-promql-rule: {where}: target {target.get('refId')} has no expr"
            )
            continue
        problems.extend(
            f"{p.split(': ', 1)[0]}: {where}: {p.split(': ', 1)[1]}" for p in lint_query(expr)
        )
    return problems


def lint_dashboard(dashboard: Mapping[str, Any]) -> list[str]:
    """Every rule on one dashboard; an empty list means clean."""
    problems: list[str] = []
    uid = dashboard.get("uid")
    if not isinstance(uid, str) or not 0 < len(uid) <= 40:
        problems.append(f"dashboard-uid-rule: uid {uid!r} must be a string of 1 to 40 characters")
    if not str(dashboard.get("title", "")).strip():
        problems.append("dashboard-title-rule: dashboard has no title")
    if "id" in dashboard:
        problems.append("dashboard-id-rule: dashboards carry no id (the uid identifies them)")
    if "rows" in dashboard:
        problems.append("dashboard-rows-rule: the retired 'rows' layout is not used")
    if dashboard.get("schemaVersion") != SCHEMA_VERSION:
        problems.append(f"dashboard-schema-version-rule: schemaVersion must be {SCHEMA_VERSION}")
    if dashboard.get("editable") is not False:
        problems.append("uneditable-rule: dashboard must set editable to false (it is generated)")
    if not isinstance(dashboard.get("refresh"), str):
        problems.append("dashboard-refresh-rule: refresh must be a string like '30s'")
    problems.extend(_lint_variables(dashboard))
    panels = dashboard.get("panels") or []
    if not panels:
        problems.append("dashboard-panels-rule: dashboard has no panels")
    ids = [p.get("id") for p in panels]
    if len(ids) != len(set(ids)):
        problems.append("panel-id-rule: panel ids must be unique within the dashboard")
    for panel in panels:
        problems.extend(lint_panel(panel))
    return problems


def load_schema(path: Path = SCHEMA_PATH) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def schema_problems(dashboard: Any, schema: Mapping[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(schema)
    return [
        f"schema: {'/'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}"
        for error in sorted(validator.iter_errors(dashboard), key=lambda e: list(e.absolute_path))
    ]


def lint_dashboards(
    dashboards: Mapping[str, Any], schema: Mapping[str, Any] | None = None
) -> dict[str, list[str]]:
    """Lint a set of dashboards ``{name: parsed JSON}``; uids and titles must be unique."""
    report: dict[str, list[str]] = {}
    seen_uid: dict[str, str] = {}
    seen_title: dict[str, str] = {}
    for name in sorted(dashboards):
        dashboard = dashboards[name]
        if not isinstance(dashboard, Mapping):
            report[name] = ["dashboard-json-rule: top level must be a JSON object"]
            continue
        problems = lint_dashboard(dashboard)
        if schema is not None:
            problems.extend(schema_problems(dashboard, schema))
        for key, seen, rule in (
            ("uid", seen_uid, "duplicate-uid-rule"),
            ("title", seen_title, "duplicate-title-rule"),
        ):
            value = dashboard.get(key)
            if isinstance(value, str):
                if value in seen:
                    problems.append(f"{rule}: {key} {value!r} is also used by {seen[value]}")
                else:
                    seen[value] = name
        if problems:
            report[name] = problems
    return report


def read_dashboards(directory: Path) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Parse every ``*.json`` in ``directory``; unparseable files are reported, not raised."""
    dashboards: dict[str, Any] = {}
    broken: dict[str, list[str]] = {}
    for path in sorted(directory.glob("*.json")):
        try:
            dashboards[path.name] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            broken[path.name] = [f"dashboard-json-rule: cannot read: {err}"]
    return dashboards, broken


# Links ----------------------------------------------------------------------------------

_MD_LINK = re.compile(
    r"(?<!!)\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)|<(https?://[^>\s]+)>"
)


@dataclass(frozen=True)
class LinkReport:
    """What the link checker found: problems break the build, external links are listed."""

    problems: tuple[str, ...] = ()
    external: tuple[str, ...] = ()
    checked: int = 0


# Query parameters a dashboard URL may carry besides ``var-<a variable of that dashboard>``.
_DASHBOARD_PARAMS = frozenset({"orgId", "from", "to", "refresh", "viewPanel", "kiosk", "tz"})


@dataclass
class _LinkCheck:
    root: Path
    settings: Settings
    uids: frozenset[str]
    variables: Mapping[str, frozenset[str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    external: set[str] = field(default_factory=set)
    checked: int = 0

    def check(self, where: str, link: str, base: Path) -> None:
        self.checked += 1
        runbook_base = self.settings.runbook_base_url.rstrip("/") + "/"
        dashboard_base = self.settings.dashboard_base_url.rstrip("/") + "/"
        if link.startswith(runbook_base):
            name = link[len(runbook_base) :].split("#", 1)[0]
            if "/" in name or not (self.root / "runbooks" / name).is_file():
                self.problems.append(f"{where}: {link} names no file runbooks/{name}")
            return
        if link.startswith(dashboard_base):
            rest = link[len(dashboard_base) :].split("#", 1)[0]
            uid = re.split(r"[/?]", rest, maxsplit=1)[0]
            if uid not in self.uids:
                self.problems.append(f"{where}: {link} names no dashboard uid {uid!r}")
                return
            query = rest.split("?", 1)[1] if "?" in rest else ""
            for param in filter(None, query.split("&")):
                name = param.split("=", 1)[0]
                variable = name.removeprefix("var-")
                known = self.variables.get(uid, frozenset())
                if name.startswith("var-") and variable not in known:
                    self.problems.append(
                        f"{where}: {link} sets {name}, but dashboard {uid!r} has no "
                        f"variable {variable!r}"
                    )
                elif not name.startswith("var-") and name not in _DASHBOARD_PARAMS:
                    self.problems.append(f"{where}: {link} has an unknown parameter {name!r}")
            return
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", link):
            self.external.add(link)
            return
        target = link.split("#", 1)[0]
        if not target:
            return  # an anchor inside the same page
        resolved = (base / target).resolve()
        if not resolved.is_relative_to(self.root.resolve()) or not resolved.exists():
            self.problems.append(
                f"{where}: relative link {link} resolves to no file in the repository"
            )


def markdown_links(text: str) -> list[str]:
    """Inline ``[text](target)`` and ``<https://...>`` links, outside fenced code."""
    links: list[str] = []
    fenced = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            continue
        for match in _MD_LINK.finditer(line):
            links.append(match.group(1) or match.group(2))
    return links


def dashboard_uids(directory: Path) -> frozenset[str]:
    dashboards, _ = read_dashboards(directory)
    return frozenset(d["uid"] for d in dashboards.values() if isinstance(d, dict) and "uid" in d)


def dashboard_variables(directory: Path) -> dict[str, frozenset[str]]:
    """``{uid: the names of its template variables}``."""
    dashboards, _ = read_dashboards(directory)
    return {
        str(d["uid"]): frozenset(
            str(v.get("name")) for v in (d.get("templating") or {}).get("list") or []
        )
        for d in dashboards.values()
        if isinstance(d, dict) and "uid" in d
    }


def rule_alerts(rules_dir: Path) -> dict[str, list[tuple[str, str]]]:
    """``{alert name: [(annotation, value), ...]}`` from every ``rules/*.rules.yml``."""
    alerts: dict[str, list[tuple[str, str]]] = {}
    for path in sorted(rules_dir.glob("*.rules.yml")):
        data = load_yaml(path.read_text(encoding="utf-8")) or {}
        for group in data.get("groups", []) or []:
            for rule in group.get("rules", []) or []:
                if "alert" in rule:
                    annotations = alerts.setdefault(str(rule["alert"]), [])
                    annotations.extend(
                        (str(k), str(v)) for k, v in (rule.get("annotations") or {}).items()
                    )
    return alerts


def check_links(root: Path, settings: Settings, alerts: Iterable[str] = ()) -> LinkReport:
    """Every alert has its runbook; every link in runbooks, rule annotations and dashboards
    (dashboard and panel links) resolves.

    ``alerts`` adds names (from the catalogue) to those found in ``rules/``.
    """
    directory = root / "grafana" / "dashboards"
    checker = _LinkCheck(root, settings, dashboard_uids(directory), dashboard_variables(directory))
    from_rules = rule_alerts(root / "rules")
    for name in sorted(set(alerts) | set(from_rules)):
        if not (root / "runbooks" / f"{name}.md").is_file():
            checker.problems.append(f"alert {name}: runbook runbooks/{name}.md is missing")
    for name, notes in sorted(from_rules.items()):
        for key, value in notes:
            if key.endswith("_url"):
                # The whole value is one link, templates (``{{ $labels.job }}``) included.
                checker.check(f"rules: {name} annotation {key}", value, root)
                continue
            for link in re.findall(r"https?://[^\s\"'<>)]+", value):
                checker.check(f"rules: {name} annotation {key}", link, root)
    for path in sorted((root / "runbooks").glob("*.md")):
        text = path.read_text(encoding="utf-8")
        for link in markdown_links(text):
            checker.check(f"runbooks/{path.name}", link, path.parent)
    dashboards, _ = read_dashboards(root / "grafana" / "dashboards")
    for name, dashboard in sorted(dashboards.items()):
        if not isinstance(dashboard, Mapping):
            continue
        holders = [dashboard, *(p for p in dashboard.get("panels", []) if isinstance(p, Mapping))]
        for holder in holders:
            for link in holder.get("links", []) or []:
                if isinstance(link, Mapping) and link.get("url"):
                    checker.check(f"grafana/dashboards/{name}", str(link["url"]), root)
    return LinkReport(tuple(checker.problems), tuple(sorted(checker.external)), checker.checked)


# Command line ---------------------------------------------------------------------------


def _catalogue_alerts() -> tuple[list[str], Settings | None]:
    """Alert names and settings from the catalogue, when the generator core provides them."""
    names: list[str] = []
    settings: Settings | None = None
    try:
        catalogue_module = importlib.import_module("generator.catalogue")
        loader = getattr(catalogue_module, "load", None)
        if callable(loader):
            loaded = loader()
            thresholds = getattr(loaded, "thresholds", None)
            if callable(thresholds):
                names = [t.name for _, t in thresholds()]
            elif isinstance(loaded, Sequence):
                names = [t.name for area in loaded for t in getattr(area, "thresholds", ())]
        settings_module = importlib.import_module("generator.settings")
        settings_loader = getattr(settings_module, "load_settings", None)
        if callable(settings_loader):
            candidate = settings_loader()
            if isinstance(candidate, Settings):
                settings = candidate
    except ImportError:
        pass  # the core is optional here: rules/ still lists the alerts
    return names, settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m generator.lint", description=__doc__)
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="repository root")
    parser.add_argument("--schema", type=Path, default=SCHEMA_PATH)
    parser.add_argument("--runbook-base-url", default=None)
    parser.add_argument("--dashboard-base-url", default=None)
    parser.add_argument(
        "--no-catalogue",
        action="store_true",
        help="take the alert names from rules/ only (for trees other than this repository)",
    )
    args = parser.parse_args(argv)

    names, settings = ([], None) if args.no_catalogue else _catalogue_alerts()
    settings = settings or Settings()
    overrides = {
        key: value
        for key, value in (
            ("runbook_base_url", args.runbook_base_url),
            ("dashboard_base_url", args.dashboard_base_url),
        )
        if value
    }
    settings = dataclasses.replace(settings, **overrides)

    dashboards, broken = read_dashboards(args.root / "grafana" / "dashboards")
    report = {**broken, **lint_dashboards(dashboards, load_schema(args.schema))}
    if not args.no_catalogue:
        catalogue = importlib.import_module("generator.catalogue").load()
        for name, problems in panel_truth.check_dashboards(dashboards, catalogue).items():
            report[name] = [*report.get(name, []), *problems]
    failed = False
    if not dashboards:
        print("grafana/dashboards: no dashboards found")
        failed = True
    for name, problems in sorted(report.items()):
        for problem in problems:
            print(f"grafana/dashboards/{name}: {problem}")
            failed = True
    links = check_links(args.root, settings, names)
    for problem in links.problems:
        print(problem)
        failed = True
    for link in links.external:
        print(f"external link (not fetched): {link}")
    print(
        f"lint: {len(dashboards)} dashboards, {links.checked} links checked, "
        f"{len(links.external)} external, {'FAILED' if failed else 'ok'}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
