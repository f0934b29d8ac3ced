"""Option resolution for one exporter process: flags beat environment beat file beat defaults.

Every problem found (bad value, unknown flag or key, unreadable file) is collected and
reported at once in a :class:`ConfigError`; the command line turns it into exit status 2.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exporters.spec import (
    ExporterDef,
    Option,
    Settings,
    parse_bool,
    parse_duration,
    parse_positive_float,
    parse_str,
)

LOG_LEVELS = ("debug", "info", "warn", "error")


def parse_listen_address(value: Any) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6, ``:PORT`` for every address)."""
    text = parse_str(value).strip()
    host, sep, port_text = text.rpartition(":")
    if not sep:
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    host = host.strip("[]")
    try:
        port = int(port_text, 10)
    except ValueError as err:
        raise ValueError(f"expected a port number after ':', got {port_text!r}") from err
    if not 0 <= port <= 65535:
        raise ValueError(f"port {port} out of range 0-65535")
    return host, port


def parse_log_level(value: Any) -> str:
    text = parse_str(value).strip().lower()
    if text == "warning":
        text = "warn"
    if text not in LOG_LEVELS:
        raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}, got {value!r}")
    return text


def parse_optional_path(value: Any) -> str:
    return parse_str(value).strip()


def parse_timeout(value: Any) -> float:
    seconds = parse_duration(value)
    return parse_positive_float(seconds)


RUNTIME_OPTIONS: tuple[Option, ...] = (
    Option(
        "web.listen-address",
        "Address to listen on for /metrics, as HOST:PORT.",
        None,  # the exporter's default port on every address, filled in per exporter
        parse_listen_address,
    ),
    Option("config.file", "YAML file with option values (keys are option names).", "", parse_str),
    Option(
        "web.config.file",
        "exporter-toolkit web configuration (TLS, mTLS, basic auth); re-read on change.",
        "",
        parse_optional_path,
    ),
    Option(
        "log.level", "Least severe log level: debug, info, warn, error.", "info", parse_log_level
    ),
    Option(
        "scrape.timeout-offset",
        "Seconds subtracted from X-Prometheus-Scrape-Timeout-Seconds as a safety margin.",
        0.5,
        parse_duration,
    ),
    Option(
        "scrape.default-timeout",
        "Scrape deadline in seconds when the request has no timeout header.",
        10.0,
        parse_timeout,
    ),
)


def collector_options(exporter: ExporterDef) -> tuple[Option, ...]:
    """A ``collector.<name>`` switch per collector (``--no-collector.<name>`` turns it off)."""
    return tuple(
        Option(c.option, f"{c.help} (--no-{c.option} turns it off)", c.default, parse_bool)
        for c in exporter.collectors
    )


@dataclass(frozen=True)
class Problem:
    option: str
    source: str
    reason: str

    def __str__(self) -> str:
        return f"{self.option} ({self.source}): {self.reason}"


class ConfigError(Exception):
    """Every problem found while resolving options, reported together.

    ``parsed`` holds the runtime options that did parse (``web.config.file`` among
    them), so the caller can check those files too and report everything at once.
    """

    def __init__(
        self,
        exporter: str,
        problems: Sequence[Problem],
        parsed: Mapping[str, Any] | None = None,
    ) -> None:
        self.exporter = exporter
        self.problems = tuple(problems)
        self.parsed: Mapping[str, Any] = dict(parsed or {})
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{exporter}: {len(self.problems)} configuration problem(s):\n{lines}")


@dataclass(frozen=True)
class RuntimeConfig:
    """The runtime's own resolved settings (no secrets among them)."""

    listen_host: str
    listen_port: int
    web_config_file: str
    log_level: str
    timeout_offset_s: float
    default_timeout_s: float
    secret_values: tuple[str, ...] = field(default=(), repr=False)


def env_name(exporter: str, option: Option) -> str:
    return f"PROMFLEET_{exporter.upper().replace('-', '_')}_{option.env_suffix}"


def _norm(key: str) -> str:
    return key.replace("_", "-").lower()


def _flatten(data: Mapping[str, Any], known: set[str], prefix: str = "") -> dict[str, Any]:
    """Flatten nested mappings into dotted keys, stopping at a known option name."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        full = f"{prefix}{_norm(str(key))}"
        if isinstance(value, Mapping) and full not in known:
            out.update(_flatten(value, known, full + "."))
        else:
            out[full] = value
    return out


def _from_text(option: Option, text: str) -> Any:
    """A flag or environment string as the parser expects it (structured: YAML/JSON text)."""
    if option.structured:
        import yaml  # on first use: most exporters start without YAML anywhere

        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ValueError(f"expected YAML or JSON text ({type(err).__name__})") from err
    return text


def split_flags(
    argv: Sequence[str], options: Mapping[str, Option]
) -> tuple[dict[str, str], list[Problem], bool]:
    """``--name=value``/``--name value``/``--flag`` into {option: text}; (flags, problems, help)."""
    flags: dict[str, str] = {}
    problems: list[Problem] = []
    want_help = False
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg in ("-h", "--help"):
            want_help = True
            continue
        if not arg.startswith("--"):
            problems.append(Problem(arg, "flag", "unexpected argument"))
            continue
        name, sep, value = arg[2:].partition("=")
        negated = name.startswith("no-collector.")
        if negated:
            name = name.removeprefix("no-")
        option = options.get(name)
        if option is None and name.startswith("collector."):
            known = sorted(o.removeprefix("collector.") for o in options
                           if o.startswith("collector."))
            problems.append(Problem(
                f"--{'no-' if negated else ''}{name}", "flag",
                f"unknown collector {name.removeprefix('collector.')!r}; known: "
                + (", ".join(known) or "none"),
            ))
            continue
        if option is None:
            problems.append(Problem(f"--{name}", "flag", "unknown flag"))
            continue
        if negated:
            if sep:
                problems.append(Problem(f"--no-{name}", "flag", "takes no value"))
                continue
            sep, value = "=", "false"
        if not sep:
            if option.default is False or option.default is True:
                value = "true"
            elif i < len(argv) and not argv[i].startswith("--"):
                value = argv[i]
                i += 1
            else:
                problems.append(Problem(option.name, "flag", "needs a value"))
                continue
        if name in flags:
            problems.append(Problem(option.name, "flag", "given more than once"))
            continue
        flags[name] = value
    return flags, problems, want_help


def _read_config_file(path: str, known: set[str]) -> tuple[dict[str, Any], list[Problem]]:
    import yaml  # on first use: most exporters start without a config file

    problems: list[Problem] = []
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        return {}, [Problem("config.file", "flag/env", f"cannot read {path}: {err.strerror}")]
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        return {}, [Problem("config.file", path, f"not valid YAML{where}")]
    if data is None:
        return {}, []
    if not isinstance(data, Mapping):
        return {}, [Problem("config.file", path, "expected a mapping of option names to values")]
    return _flatten(data, known), problems


def resolve(
    exporter: ExporterDef,
    argv: Sequence[str],
    environ: Mapping[str, str],
) -> tuple[RuntimeConfig, Settings, bool]:
    """Resolve every option; (runtime config, exporter settings, help asked).

    Raises :class:`ConfigError` naming every problem (option, source, reason).
    """
    own_options = (*exporter.options, *collector_options(exporter))
    all_options = {opt.name: opt for opt in (*RUNTIME_OPTIONS, *own_options)}
    flags, problems, want_help = split_flags(argv, all_options)
    if want_help:
        return _placeholder_runtime(), Settings(exporter.name, {}), True

    raw: dict[str, tuple[str, Any]] = {}  # option -> (source, raw value)
    for name, option in all_options.items():
        raw[name] = ("default", option.default)

    # Environment (strings; secrets also from a *_FILE)
    for name, option in all_options.items():
        var = env_name(exporter.name, option)
        if var in environ:
            try:
                raw[name] = (f"env {var}", _from_text(option, environ[var]))
            except ValueError as err:
                problems.append(Problem(name, f"env {var}", str(err)))
        if option.secret and f"{var}_FILE" in environ:
            if var in environ:
                problems.append(Problem(name, f"env {var}_FILE", f"{var} is set too; set one"))
                continue
            file_path = environ[f"{var}_FILE"]
            try:
                secret = Path(file_path).read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as err:
                problems.append(
                    Problem(name, f"env {var}_FILE", f"cannot read {file_path}: {err.strerror}")
                )
                continue
            raw[name] = (f"env {var}_FILE", secret)

    # The config file named by flag or environment
    config_path = flags.get("config.file")
    if config_path is None and raw["config.file"][0] != "default":
        config_path = str(raw["config.file"][1])
    file_values: dict[str, Any] = {}
    if config_path:
        file_values, file_problems = _read_config_file(config_path, set(all_options))
        problems.extend(file_problems)
    secret_file_keys = {f"{n}-file": n for n, o in all_options.items() if o.secret}
    for key, value in sorted(file_values.items()):
        if key in ("config.file",):
            problems.append(Problem(key, f"file {config_path}", "cannot be set in the file"))
            continue
        source = f"file {config_path}"
        if key in secret_file_keys:
            name = secret_file_keys[key]
            try:
                value = Path(str(value)).read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as err:
                problems.append(Problem(name, source, f"cannot read {value}: {err.strerror}"))
                continue
            key = name
        if key not in all_options:
            problems.append(Problem(key, source, "unknown key"))
            continue
        if raw[key][0].startswith("env"):
            continue  # environment beats file
        raw[key] = (source, value)

    # Flags beat everything
    for name, text in flags.items():
        try:
            raw[name] = ("flag", _from_text(all_options[name], text))
        except ValueError as err:
            problems.append(Problem(name, "flag", str(err)))

    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, (source, value) in raw.items():
        option = all_options[name]
        sources[name] = source.split(" ", 1)[0]
        if source == "default":
            values[name] = value
            continue
        try:
            values[name] = option.parse(value)
        except (ValueError, TypeError) as err:
            # A parser's message may quote the value: never for a secret.
            reason = "invalid value (not shown: secret)" if option.secret else str(err)
            problems.append(Problem(name, source, reason))
    if values.get("web.listen-address") is None:
        values["web.listen-address"] = ("", exporter.default_port)

    if problems:
        runtime_names = {o.name for o in RUNTIME_OPTIONS}
        parsed = {k: v for k, v in values.items() if k in runtime_names}
        raise ConfigError(exporter.name, problems, parsed)

    host, port = values["web.listen-address"]
    secrets = tuple(
        str(values[o.name])
        for o in exporter.options
        if o.secret and values.get(o.name) not in (None, "")
    ) + tuple(
        part
        for o in exporter.options
        if o.secret_parts is not None and values.get(o.name)
        for part in o.secret_parts(values[o.name])
    )
    runtime = RuntimeConfig(
        listen_host=host,
        listen_port=port,
        web_config_file=values["web.config.file"],
        log_level=values["log.level"],
        timeout_offset_s=values["scrape.timeout-offset"],
        default_timeout_s=values["scrape.default-timeout"],
        secret_values=secrets,
    )
    own = {o.name for o in own_options}
    settings = Settings(
        exporter=exporter.name,
        values={k: v for k, v in values.items() if k in own},
        sources={k: v for k, v in sources.items() if k in own},
    )
    duplicates = duplicate_targets(exporter, settings)
    if duplicates:
        runtime_names = {o.name for o in RUNTIME_OPTIONS}
        parsed = {k: v for k, v in values.items() if k in runtime_names}
        raise ConfigError(exporter.name, duplicates, parsed)
    return runtime, settings, False


def duplicate_targets(exporter: ExporterDef, settings: Settings) -> list[Problem]:
    """A problem for each target name the settings give more than once.

    Target names are labels and the key of ``/probe?target=NAME``: two targets of one
    name would publish clashing series and make one of them unreachable.
    """
    if exporter.target_names is None:
        return []
    seen: set[str] = set()
    twice: list[str] = []
    for name in exporter.target_names(settings):
        if name in seen and name not in twice:
            twice.append(name)
        seen.add(name)
    source = settings.sources.get("targets", "default")
    return [Problem("targets", source, f"target name {name!r} is given more than once")
            for name in twice]


def _placeholder_runtime() -> RuntimeConfig:
    return RuntimeConfig("", 0, "", "info", 0.5, 10.0)


def help_text(exporter: ExporterDef) -> str:
    """``--help``: every option with its flag, environment variable and default."""
    lines = [
        f"usage: promfleet-exporter {exporter.name} [--OPTION=VALUE ...]",
        "",
        exporter.description,
        "",
        "Each option is also read from the environment and from --config.file (YAML);",
        "flags beat environment, which beats the file, which beats the default.",
        "",
    ]
    sections = (
        ("runtime options:", RUNTIME_OPTIONS),
        (f"{exporter.name} options:", exporter.options),
        (f"{exporter.name} collectors:", collector_options(exporter)),
    )
    for title, options in sections:
        if not options:
            continue
        lines.append(title)
        for option in options:
            default: Any = option.default
            if option.name == "web.listen-address":
                default = f":{exporter.default_port}"
            shown = "(secret)" if option.secret else json.dumps(default, default=str)
            env = env_name(exporter.name, option)
            if option.secret:
                env += f" or {env}_FILE"
            lines.append(f"  --{option.name}=VALUE")
            lines.append(f"      {option.help}")
            lines.append(f"      env: {env}; default: {shown}")
        lines.append("")
    return "\n".join(lines)


def environ_snapshot() -> dict[str, str]:
    """The PROMFLEET_* environment (what :func:`resolve` reads)."""
    return {k: v for k, v in os.environ.items() if k.startswith("PROMFLEET_")}
