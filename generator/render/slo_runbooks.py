"""Renders the runbooks of the SLO alerts: ``runbooks/<Name>BudgetBurn.md`` (every tier of
one SLO: what the burn rate means, how long the budget lasts at it, what to look at) and
``runbooks/<Name>SLIAbsent.md``. Same sections as every runbook (Meaning, Impact,
Diagnosis, Mitigation, Escalation), plus the tiers and the static alerts the SLO overlaps
with what was decided for each."""

from __future__ import annotations

from generator.model import SLO, Area, Catalogue, Settings, dashboard_url, runbook_url
from generator.render import MARKER
from generator.render._slo import (
    BURN,
    EVENTS,
    PERIOD_RATIO,
    RATIO,
    REMAINING,
    absent_condition,
    exhaustion,
    nominal,
    tier_condition,
    tier_plans,
)
from generator.render._slo import DASHBOARD_KEY as KEY


def _header(area: Area) -> str:
    source = area.source or "generator/catalogue/"
    return f"<!-- {MARKER}: the source is {source} (run `make rules` after a change). -->\n"


def _table(area: Area, slo: SLO, alert: str, settings: Settings) -> list[str]:
    board = dashboard_url(settings, area.name, KEY)
    return [
        "| | |",
        "|---|---|",
        f"| Area | {area.title} (`{area.name}`) |",
        f"| SLO | `{slo.slo}`: {slo.title}, {slo.objective_percent:g} % over "
        f"{nominal(slo.period_seconds)} |",
        f"| Service | {slo.service} |",
        f"| Team | {slo.team.value} |",
        f"| Category | {slo.category.value} |",
        f"| Dashboard | [promfleet-{area.name}-{KEY}]({board}) |",
        f"| Runbook URL | <{runbook_url(settings, alert)}> |",
    ]


def _steps(items: tuple[str, ...]) -> list[str]:
    return [f"{index}. {item}" for index, item in enumerate(items, 1)]


def burn_runbook(area: Area, slo: SLO, settings: Settings) -> str:
    sel = f'{{slo="{slo.slo}"}}'
    period = nominal(slo.period_seconds)
    budget_pct = f"{(1 - slo.objective_percent / 100) * 100:.3g}"
    plans = tier_plans(slo, settings)
    lines = [
        f"# {slo.burn_alert}",
        "",
        f"SLO `{slo.slo}`: the error budget burns too fast ({slo.description})",
        "",
        *_table(area, slo, slo.burn_alert, settings),
        "",
        "## Burn tiers",
        "",
        "Each tier fires when both its long and its short window burn faster than its factor "
        f"(factor = budget share x {period} / long window), and the long window saw enough "
        "events that the threshold means at least "
        f"{slo.min_bad_events} bad ones. The `slo_tier` label says page or ticket; a firing "
        "page tier mutes the ticket tiers of the same SLO. Labels `slo_window` tell the tiers "
        "apart.",
        "",
        "| Tier | Severity | Budget share | Long / short window | Factor | Bad share above "
        "| Minimum events in the long window | For | Budget gone at this rate in |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for p in plans:
        lines.append(
            f"| {p.tier.name} (`slo_window=\"{p.window}\"`) | {p.tier.severity.value} | "
            f"{p.tier.budget_share * 100:g} % | {p.window} / "
            f"{nominal(p.tier.short_window_seconds)} | {p.factor:g} | "
            f"{p.threshold(slo) * 100:.3g} % | {p.min_events:.0f} | "
            f"{nominal(p.tier.for_seconds)} | {exhaustion(slo, p.factor)} |"
        )
    if slo.disabled_tiers:
        lines += ["", f"Turned off for this SLO: {', '.join(slo.disabled_tiers)}."]
    lines += [
        "",
        "## Meaning",
        "",
        f"The objective is {slo.objective_percent:g} % good events over {period}, so "
        f"{budget_pct} % may be bad: that is the error budget. The burn rate is the bad share "
        "now divided by that budget: at 1 the budget lasts exactly the period, at 14.4 a "
        f"{period} budget is gone in {exhaustion(slo, 14.4)}. The alert's value is the bad "
        f"share over its long window (divided by {budget_pct} % it is the burn rate); at burn "
        "rate b the whole budget lasts "
        f"{period} / b, and what is left of it lasts (budget left) x {period} / b.",
        "",
        "## Impact",
        "",
        slo.runbook.impact,
        "",
        "## Diagnosis",
        "",
        "How long the budget that is left lasts at the last hour's rate (seconds):",
        "",
        "```promql",
        f"{REMAINING}{sel} * {slo.period_seconds} / {BURN.format('1h')}{sel}",
        "```",
        "",
        "The burn rate over every window (the bad share over the budget's "
        f"{budget_pct} %), and what is left of the budget:",
        "",
        "```promql",
        f'{{__name__=~"slo:sli_error:ratio_rate.+",slo="{slo.slo}"}} / '
        f"{1 - slo.objective_percent / 100:.6g}",
        f"{REMAINING}{sel}",
        f"1 - {PERIOD_RATIO}{sel}",
        "```",
        "",
        "Each tier's condition, true while it is pending or firing:",
        "",
    ]
    for p in plans:
        lines += ["```promql", " ".join(tier_condition(slo, p).split()), "```", ""]
    lines += [
        f"The bad share over 5 minutes, and the traffic: `{RATIO.format('5m')}{sel}`, "
        f"`{EVENTS.format('5m')}{sel}`",
        "",
        *_steps(slo.runbook.diagnosis),
        "",
        "## Mitigation",
        "",
        *_steps(slo.runbook.mitigation),
        "",
        "A page tier that fired and resolved still spent budget: check the budget left "
        "before a risky change.",
        "",
        "## Escalation",
        "",
        slo.runbook.escalation,
    ]
    if slo.runbook.supersedes:
        lines += [
            "",
            "## Static alerts this SLO overlaps",
            "",
            *(
                f"- [{alert}]({alert}.md): {decision}"
                for alert, decision in slo.runbook.supersedes
            ),
        ]
    return _header(area) + "\n".join(lines) + "\n"


def absent_runbook(area: Area, slo: SLO, settings: Settings) -> str:
    lines = [
        f"# {slo.absent_alert}",
        "",
        f"SLO `{slo.slo}`: its SLI has no series while its job is scraped",
        "",
        *_table(area, slo, slo.absent_alert, settings),
        "",
        "## Meaning",
        "",
        "The series the SLI is made of are missing although Prometheus scrapes the job: "
        f"the SLO {slo.title} is blind, and its burn-rate alert ([{slo.burn_alert}]"
        f"({slo.burn_alert}.md)) cannot fire. Info: an idle service has no such series "
        "either (counters appear with the first event), and a dead one pages through the "
        "target-down alert.",
        "",
        "## Impact",
        "",
        "No page if the service starts failing; the dashboard's budget stops moving.",
        "",
        "## Diagnosis",
        "",
        "The condition:",
        "",
        "```promql",
        " ".join(absent_condition(slo).split()),
        "```",
        "",
        "1. Whether the service served anything at all (an idle service is no fault).",
        "2. Whether the metric was renamed or relabelled: compare the exporter's /metrics "
        "with the SLI's selector in the catalogue.",
        "",
        "## Mitigation",
        "",
        "1. Fix the relabelling or the instrumentation, or change the SLI in the catalogue "
        "and run `make rules`.",
        "",
        "## Escalation",
        "",
        slo.runbook.escalation,
    ]
    return _header(area) + "\n".join(lines) + "\n"


def render(catalogue: Catalogue, settings: Settings) -> dict[str, str]:
    out: dict[str, str] = {}
    for area in catalogue.areas:
        for slo in area.slos:
            out[f"runbooks/{slo.burn_alert}.md"] = burn_runbook(area, slo, settings)
            out[f"runbooks/{slo.absent_alert}.md"] = absent_runbook(area, slo, settings)
    return out
