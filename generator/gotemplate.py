"""The small subset of Go's text/template that alert summaries and descriptions may use.

Allowed, and nothing else: ``{{ $labels.NAME }}``, ``{{ $value }}`` and ``{{ $value |
F }}`` for F in ``humanize``, ``humanizePercentage``, ``humanizeDuration``. The generator
expands them exactly as Prometheus 2.x does, so promtool tests can expect the text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

ACTION = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}", re.S)
_LABEL = re.compile(r"^\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)$")
_VALUE = re.compile(r"^\$value(?:\s*\|\s*([A-Za-z0-9]+))?$")
FUNCTIONS = ("humanize", "humanizePercentage", "humanizeDuration")


def template_problems(text: str, label_names: frozenset[str] | None = None) -> list[str]:
    """What in ``text`` falls outside the allowed subset (empty when all is well).

    When ``label_names`` is given, ``$labels.x`` must name one of them.
    """
    problems = []
    for action in ACTION.findall(text):
        label = _LABEL.match(action)
        if label:
            if label_names is not None and label.group(1) not in label_names:
                problems.append(
                    f"{{{{ {action} }}}} names a label the alert does not carry "
                    f"(it carries: {', '.join(sorted(label_names))})"
                )
            continue
        value = _VALUE.match(action)
        if value and (value.group(1) is None or value.group(1) in FUNCTIONS):
            continue
        problems.append(
            f"{{{{ {action} }}}} is outside the allowed template subset "
            f"($labels.NAME, $value, $value | {' / '.join(FUNCTIONS)})"
        )
    rest = ACTION.sub("", text)
    if "{{" in rest or "}}" in rest:
        problems.append("unbalanced {{ or }}")
    return problems


def expand(text: str, labels: Mapping[str, str], value: float) -> str:
    """Expand the allowed subset; raises ValueError on anything else."""

    def one(match: re.Match[str]) -> str:
        action = match.group(1)
        label = _LABEL.match(action)
        if label:
            # Prometheus expands with missingkey=zero: a label the series lacks is "".
            return labels.get(label.group(1), "")
        found = _VALUE.match(action)
        if not found:
            raise ValueError(f"template action outside the allowed subset: {action!r}")
        func = found.group(1)
        if func is None:
            return go_float(value)
        if func == "humanize":
            return humanize(value)
        if func == "humanizePercentage":
            return f"{go_g4(value * 100)}%"
        if func == "humanizeDuration":
            return humanize_duration(value)
        raise ValueError(f"template function outside the allowed subset: {func!r}")

    return ACTION.sub(one, text)


def go_g4(value: float) -> str:
    """Go's ``fmt.Sprintf("%.4g", v)``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return f"{value:.4g}"


def go_float(value: float) -> str:
    """Go's ``%v`` of a float64: shortest digits, exponent below 1e-4 or from 1e6 up."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"
    text = repr(float(value))
    mantissa, _, exp_text = text.partition("e")
    sign = "-" if mantissa.startswith("-") else ""
    mantissa = mantissa.lstrip("-")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    exponent = int(exp_text or 0) + len(whole.lstrip("0") or "") - 1
    if not whole.lstrip("0"):  # 0.000123 -> digits '123', exponent from leading zeros
        exponent = int(exp_text or 0) - (len(frac) - len(frac.lstrip("0"))) - 1
    digits = digits.rstrip("0") or "0"
    if exponent < -4 or exponent >= 6:
        body = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{body}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    if exponent >= len(digits) - 1:
        return sign + digits + "0" * (exponent - len(digits) + 1)
    if exponent >= 0:
        return f"{sign}{digits[: exponent + 1]}.{digits[exponent + 1 :]}"
    return f"{sign}0.{'0' * (-exponent - 1)}{digits}"


def _below_one(value: float) -> tuple[float, str]:
    """``value`` (non-zero, under 1) scaled up by thousands until it is not, and its SI
    prefix: ``0.05`` -> ``(50.0, "m")``."""
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(value) >= 1:
            break
        prefix = p
        value *= 1000
    return value, prefix


def humanize(value: float) -> str:
    """Prometheus' ``humanize``: SI prefixes, four significant digits."""
    if value == 0 or math.isnan(value) or math.isinf(value):
        return go_g4(value)
    prefix = ""
    if abs(value) >= 1:
        for p in ("k", "M", "G", "T", "P", "E", "Z", "Y"):
            if abs(value) < 1000:
                break
            prefix = p
            value /= 1000
        return f"{go_g4(value)}{prefix}"
    value, prefix = _below_one(value)
    return f"{go_g4(value)}{prefix}"


def humanize_duration(value: float) -> str:
    """Prometheus' ``humanizeDuration``: ``1d 2h 3m 4s``, or ``4.5s``, or ``300ms``."""
    if math.isnan(value) or math.isinf(value):
        return go_g4(value)
    if value == 0:
        return f"{go_g4(value)}s"
    if abs(value) >= 1:
        sign = "-" if value < 0 else ""
        value = abs(value)
        whole = int(value)
        seconds, minutes = whole % 60, (whole // 60) % 60
        hours, days = (whole // 3600) % 24, whole // 86400
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes:
            return f"{sign}{minutes}m {seconds}s"
        return f"{sign}{go_g4(value)}s"
    value, prefix = _below_one(value)
    return f"{go_g4(value)}{prefix}s"
