"""Renders ``deploy/kubernetes/``: prometheus-operator objects for kube-prometheus.

- ``prometheusrule-<file>.yml``: one ``PrometheusRule`` per rule file of rules/ (one per
  area), labelled with ``kubernetes_rule_labels`` (kube-prometheus' Prometheus selects
  ``role: alert-rules`` and ``prometheus: k8s``). Every alerting rule also carries
  ``namespace: <kubernetes_namespace>``: the operator adds a matcher on the
  AlertmanagerConfig's own namespace to its top route, and an alert whose ``by()``
  dropped the target's namespace would otherwise match no route and page nobody.
- ``servicemonitor-<exporter>.yml``: one ``ServiceMonitor`` per exporter of the service
  table (topology/). A ServiceMonitor, not a PodMonitor: every exporter is reached
  through a Service (the Probe's prober address is the probe exporter's Service), and
  the job label comes from the Service's ``app.kubernetes.io/name``, as the rules expect.
- ``probe.yml``: a ``Probe`` through the probe exporter's ``/probe?target=NAME`` for
  each of ``kubernetes_probe_targets`` (names in that exporter's ``targets:``).
- ``alertmanagerconfig.yml``: the routing of alertmanager/alertmanager.yml as an
  ``AlertmanagerConfig`` (v1alpha1): matchers as objects, receivers' secrets as keys of
  the Kubernetes Secret ``kubernetes_secret`` (never inline, never file paths).
- ``alertmanager-templates.yml``: a ConfigMap with the notification templates the
  receivers use.

The rules and the routing are derived from the rendered files, so every rule group and
every route reaches them, whatever produced it.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping
from typing import Any

from generator.model import Catalogue, Settings
from generator.parseback import load_yaml
from generator.render import RenderError
from generator.render._deploy import render_document, rule_files
from topology import Kind, services

MONITORING_V1 = "monitoring.coreos.com/v1"
MONITORING_V1ALPHA1 = "monitoring.coreos.com/v1alpha1"
PART_OF = {"app.kubernetes.io/part-of": "promfleet"}
NAME_LABEL = "app.kubernetes.io/name"
METRICS_PORT = "metrics"  # the port name each exporter's Service gives its HTTP port
ALERTMANAGER_CONFIG = "alertmanager/alertmanager.yml"
TEMPLATES_CONFIGMAP = "promfleet-alertmanager-templates"


class ConversionError(RenderError):
    """Something in alertmanager.yml with no AlertmanagerConfig equivalent."""


def _metadata(name: str, settings: Settings, labels: Mapping[str, str] = {}) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": settings.kubernetes_namespace,
        "labels": {**PART_OF, **labels},
    }


# --- scrape objects (from the service table) ----------------------------------------


def service_monitor(name: str, settings: Settings) -> dict[str, Any]:
    endpoint: dict[str, Any] = {
        "port": METRICS_PORT,
        "path": "/metrics",
        "interval": settings.scrape_interval,
        "scrapeTimeout": settings.scrape_timeout,
    }
    if name == "system":
        # A DaemonSet's pods: name the host, not the pod's address, as node-exporter does.
        endpoint["relabelings"] = [
            {"action": "replace", "sourceLabels": ["__meta_kubernetes_pod_node_name"],
             "targetLabel": "instance"}
        ]
    return {
        "apiVersion": MONITORING_V1,
        "kind": "ServiceMonitor",
        "metadata": _metadata(f"promfleet-{name}", settings, {NAME_LABEL: name}),
        "spec": {
            "jobLabel": NAME_LABEL,
            "selector": {"matchLabels": {**PART_OF, NAME_LABEL: name}},
            "namespaceSelector": {"matchNames": [settings.kubernetes_namespace]},
            "endpoints": [endpoint],
        },
    }


def probe(settings: Settings, port: int) -> dict[str, Any]:
    return {
        "apiVersion": MONITORING_V1,
        "kind": "Probe",
        "metadata": _metadata("promfleet-probe", settings, {NAME_LABEL: "probe"}),
        "spec": {
            # The job the probe exporter's own scrape has: its alerts and dashboards
            # select job="probe", and instance is the target's name.
            "jobName": "probe",
            "prober": {
                "url": f"promfleet-probe.{settings.kubernetes_namespace}.svc:{port}",
                "path": "/probe",
            },
            "interval": settings.scrape_interval,
            "scrapeTimeout": settings.scrape_timeout,
            "targets": {"staticConfig": {"static": list(settings.kubernetes_probe_targets)}},
        },
    }


def render(catalogue: Catalogue, settings: Settings) -> dict[str, str]:
    out = {}
    for row in services():
        if row.kind is not Kind.EXPORTER:
            continue  # Prometheus and Alertmanager: kube-prometheus monitors its own
        out[f"deploy/kubernetes/servicemonitor-{row.name}.yml"] = render_document(
            service_monitor(row.name, settings),
            [f"Scrapes the Service labelled {NAME_LABEL}={row.name} on its port named "
             f"{METRICS_PORT!r} (the exporter listens on {row.port}); job={row.name}."],
        )
        if row.name == "probe" and row.port is not None:
            out["deploy/kubernetes/probe.yml"] = render_document(
                probe(settings, row.port),
                ["Each target is a name in the probe exporter's targets: list."],
            )
    return out


# --- rules (from every rule file) -----------------------------------------------------


def prometheus_rule(stem: str, groups: list[dict[str, Any]], settings: Settings) -> dict[str, Any]:
    spec_groups = []
    for group in groups:
        rules = []
        for rule in group["rules"]:
            if "alert" in rule:
                labels = {**(rule.get("labels") or {}), "namespace": settings.kubernetes_namespace}
                rule = {**rule, "labels": labels}
            rules.append(rule)
        spec_groups.append({**group, "rules": rules})
    return {
        "apiVersion": MONITORING_V1,
        "kind": "PrometheusRule",
        "metadata": _metadata(f"promfleet-{stem}", settings, dict(settings.kubernetes_rule_labels)),
        "spec": {"groups": spec_groups},
    }


# --- routing (from alertmanager.yml) --------------------------------------------------

_MATCHER = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$')
_ROUTE_KEYS = {
    "receiver": "receiver",
    "group_by": "groupBy",
    "group_wait": "groupWait",
    "group_interval": "groupInterval",
    "repeat_interval": "repeatInterval",
    "continue": "continue",
    "mute_time_intervals": "muteTimeIntervals",
    "active_time_intervals": "activeTimeIntervals",
}
_RECEIVER_KINDS = {
    "email_configs": "emailConfigs",
    "slack_configs": "slackConfigs",
    "pagerduty_configs": "pagerdutyConfigs",
    "opsgenie_configs": "opsgenieConfigs",
    "webhook_configs": "webhookConfigs",
    "pushover_configs": "pushoverConfigs",
}
# Field names the operator spells other than by camel-casing Alertmanager's.
_FIELD_NAMES = {"api_url": "apiURL", "http_config": "httpConfig"}
_PLACEHOLDER = re.compile(r"^@secret:([A-Za-z0-9._-]+)@$")


def matcher(text: str) -> dict[str, str]:
    """``name="value"`` (``=``, ``!=``, ``=~``, ``!~``) as the operator's matcher object."""
    match = _MATCHER.match(text)
    if not match:
        raise ConversionError(f"matcher {text!r}: expected name=\"value\"")
    name, op, value = match.groups()
    if value.startswith('"'):
        value = json.loads(value)
    return {"name": name, "value": value, "matchType": op}


def convert_route(route: Mapping[str, Any], where: str = "route") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in route.items():
        if key == "matchers":
            out["matchers"] = [matcher(m) for m in value or ()]
        elif key == "routes":
            out["routes"] = [
                convert_route(r, f"{where}.routes[{i}]") for i, r in enumerate(value or ())
            ]
        elif key in _ROUTE_KEYS:
            out[_ROUTE_KEYS[key]] = value
        else:
            raise ConversionError(f"{where}: {key!r} has no AlertmanagerConfig equivalent")
    return out


def _camel(name: str) -> str:
    if name in _FIELD_NAMES:
        return _FIELD_NAMES[name]
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _secret(settings: Settings, key: str) -> dict[str, str]:
    return {"name": settings.kubernetes_secret, "key": key}


def convert_fields(
    fields: Mapping[str, Any], settings: Settings, secrets: set[str]
) -> dict[str, Any]:
    """One receiver config (or a nested part): camelCase keys, ``X_file`` paths and
    ``@secret:...@`` placeholders as keys of the Secret, ``headers`` as key/value pairs."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if key.endswith("_file") and isinstance(value, str):
            secret_key = posixpath.basename(value)
            secrets.add(secret_key)
            out[_camel(key[: -len("_file")])] = _secret(settings, secret_key)
        elif isinstance(value, str) and _PLACEHOLDER.match(value):
            secret_key = _PLACEHOLDER.match(value).group(1)  # type: ignore[union-attr]
            secrets.add(secret_key)
            out[_camel(key)] = _secret(settings, secret_key)
        elif key == "headers" and isinstance(value, Mapping):
            out["headers"] = [{"key": k, "value": v} for k, v in value.items()]
        elif isinstance(value, Mapping):
            out[_camel(key)] = convert_fields(value, settings, secrets)
        elif isinstance(value, list):
            out[_camel(key)] = [
                convert_fields(v, settings, secrets) if isinstance(v, Mapping) else v
                for v in value
            ]
        else:
            out[_camel(key)] = value
    return out


def alertmanager_config(
    config: Mapping[str, Any], settings: Settings
) -> tuple[dict[str, Any], list[str]]:
    """The AlertmanagerConfig object, and the Secret keys its receivers read."""
    for key in config:
        if key not in ("global", "templates", "route", "receivers", "inhibit_rules"):
            raise ConversionError(f"{ALERTMANAGER_CONFIG}: {key!r} has no AlertmanagerConfig "
                                  "equivalent")
    secrets: set[str] = set()
    receivers = []
    for receiver in config.get("receivers") or ():
        converted: dict[str, Any] = {"name": receiver["name"]}
        for kind, configs in receiver.items():
            if kind == "name":
                continue
            if kind not in _RECEIVER_KINDS:
                raise ConversionError(f"receiver {receiver['name']!r}: {kind!r} is not converted")
            converted[_RECEIVER_KINDS[kind]] = [
                convert_fields(c, settings, secrets) for c in configs
            ]
        receivers.append(converted)
    inhibit = [
        {
            "sourceMatch": [matcher(m) for m in rule.get("source_matchers") or ()],
            "targetMatch": [matcher(m) for m in rule.get("target_matchers") or ()],
            **({"equal": list(rule["equal"])} if rule.get("equal") else {}),
        }
        for rule in config.get("inhibit_rules") or ()
    ]
    spec = {
        "route": convert_route(config["route"]),
        "receivers": receivers,
        "inhibitRules": inhibit,
    }
    document = {
        "apiVersion": MONITORING_V1ALPHA1,
        "kind": "AlertmanagerConfig",
        "metadata": _metadata("promfleet", settings),
        "spec": spec,
    }
    return document, sorted(secrets)


def templates_configmap(
    outputs: Mapping[str, str], settings: Settings
) -> dict[str, Any] | None:
    data = {
        posixpath.basename(path): text
        for path, text in sorted(outputs.items())
        if path.startswith("alertmanager/templates/") and path.endswith(".tmpl")
    }
    if not data:
        return None
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(TEMPLATES_CONFIGMAP, settings),
        "data": data,
    }


def derive(outputs: Mapping[str, str], catalogue: Catalogue, settings: Settings) -> dict[str, str]:
    out = {}
    for file in rule_files(outputs, settings):
        out[f"deploy/kubernetes/prometheusrule-{file.stem}.yml"] = render_document(
            prometheus_rule(file.stem, file.groups, settings),
            [f"The rule groups of {file.path}; every alert also carries "
             f"namespace={settings.kubernetes_namespace} for the AlertmanagerConfig's "
             "namespace matcher.", *file.notes],
        )
    if ALERTMANAGER_CONFIG in outputs:
        config = load_yaml(outputs[ALERTMANAGER_CONFIG])
        document, secrets = alertmanager_config(config, settings)
        notes = [
            f"The routing of {ALERTMANAGER_CONFIG}. The operator adds a matcher "
            f"namespace=\"{settings.kubernetes_namespace}\" to the top route and the inhibit "
            "rules.",
            "Global settings (resolve_timeout) and templates belong to the Alertmanager object: "
            f"mount the ConfigMap {TEMPLATES_CONFIGMAP} and list its *.tmpl in the base config.",
            f"Receivers read these keys of the Secret {settings.kubernetes_secret}: "
            + ", ".join(secrets) + ".",
        ]
        out["deploy/kubernetes/alertmanagerconfig.yml"] = render_document(document, notes)
        configmap = templates_configmap(outputs, settings)
        if configmap is not None:
            out["deploy/kubernetes/alertmanager-templates.yml"] = render_document(
                configmap, ["The notification templates the AlertmanagerConfig's receivers use."]
            )
    return out
