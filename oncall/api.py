"""HTTP clients for Alertmanager's v2 API (one or more peers of a cluster) and
Prometheus' HTTP API, on urllib. Every failure to reach a server is an OncallError
that names the URL."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from oncall.durations import rfc3339
from oncall.errors import OncallError
from oncall.model import Alert, Silence

TIMEOUT_SECONDS = 10.0


class HTTPStatusError(OncallError):
    """The server answered, with a 4xx status (a 5xx counts as not answering)."""

    def __init__(self, url: str, status: int, body: str) -> None:
        super().__init__(f"{url} answered HTTP {status}: {body.strip()[:300]}")
        self.status = status
        self.body = body


def _request(
    method: str, url: str, body: object | None = None, timeout: float = TIMEOUT_SECONDS
) -> Any:
    """One HTTP request; the decoded JSON answer (None for an empty body).

    A 4xx is an HTTPStatusError; no answer, a timeout or a 5xx is an OncallError.
    """
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Accept": "application/json"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
    except urllib.error.HTTPError as err:
        text = err.read().decode("utf-8", errors="replace")
        if err.code < 500:
            raise HTTPStatusError(url, err.code, text) from err
        raise OncallError(f"{url} answered HTTP {err.code}: {text.strip()[:300]}") from err
    except urllib.error.URLError as err:
        raise OncallError(f"cannot reach {url}: {err.reason}") from err
    except TimeoutError as err:
        raise OncallError(f"cannot reach {url}: no answer within {timeout:g}s") from err
    except OSError as err:  # a reset connection, a refused one during the read
        raise OncallError(f"cannot reach {url}: {err}") from err
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as err:
        raise OncallError(f"{url} answered something that is not JSON: {raw[:200]!r}") from err


class Alertmanager:
    """The v2 API of one Alertmanager cluster, given the URLs of one or more peers.

    Every call goes to the first peer that answers, starting with the one that answered
    last, so the reads and the write of one command see the same peer. A silence made on
    one peer reaches the others by gossip.
    """

    def __init__(self, urls: Sequence[str], timeout: float = TIMEOUT_SECONDS) -> None:
        if not urls:
            raise ValueError("at least one Alertmanager URL")
        self.urls = [u.rstrip("/") for u in urls]
        self.timeout = timeout

    def _call(self, method: str, path: str, body: object | None = None) -> Any:
        failures: list[str] = []
        for index, base in enumerate(self.urls):
            try:
                answer = _request(method, base + path, body, self.timeout)
            except HTTPStatusError:
                raise
            except OncallError as err:
                failures.append(str(err))
                continue
            if index:  # keep to the peer that answered
                self.urls.insert(0, self.urls.pop(index))
            return answer
        if len(failures) == 1:
            raise OncallError(f"Alertmanager is not reachable: {failures[0]}")
        raise OncallError("no Alertmanager is reachable:\n  " + "\n  ".join(failures))

    @property
    def url(self) -> str:
        """The peer in use (the last that answered)."""
        return self.urls[0]

    def alerts(self) -> list[Alert]:
        """Every alert firing now: active, silenced and inhibited alike."""
        answer = self._call("GET", "/api/v2/alerts?active=true&silenced=true&inhibited=true")
        return [Alert.from_json(a) for a in answer or ()]

    def silences(self) -> list[Silence]:
        """Every silence the peer holds, expired ones included."""
        return [Silence.from_json(s) for s in self._call("GET", "/api/v2/silences") or ()]

    def silence(self, silence_id: str) -> Silence:
        path = "/api/v2/silence/" + urllib.parse.quote(silence_id, safe="")
        return Silence.from_json(self._call("GET", path))

    def create_silence(
        self,
        matchers: Sequence[Mapping[str, Any]],
        starts_at: datetime,
        ends_at: datetime,
        created_by: str,
        comment: str,
    ) -> str:
        """Create a silence; its id."""
        body = {
            "matchers": list(matchers),
            "startsAt": rfc3339(starts_at),
            "endsAt": rfc3339(ends_at),
            "createdBy": created_by,
            "comment": comment,
        }
        answer = self._call("POST", "/api/v2/silences", body)
        return str(answer["silenceID"])

    def expire_silence(self, silence_id: str) -> None:
        self._call("DELETE", "/api/v2/silence/" + urllib.parse.quote(silence_id, safe=""))


@dataclass(frozen=True)
class RuleInfo:
    """What the history needs to know of an alerting rule: its ``for`` and how often
    its group is evaluated."""

    name: str
    labels: Mapping[str, str]
    for_seconds: float
    interval_seconds: float


class Prometheus:
    """Prometheus' HTTP API: range queries and the alerting rules."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _get(self, path: str, params: Mapping[str, str]) -> Any:
        url = f"{self.url}{path}?{urllib.parse.urlencode(params)}"
        try:
            answer = _request("GET", url, timeout=self.timeout)
        except HTTPStatusError as err:
            try:
                reason = json.loads(err.body).get("error", err.body)
            except (json.JSONDecodeError, AttributeError):
                reason = err.body
            raise OncallError(f"Prometheus at {self.url} refused the query: {reason}") from err
        except OncallError as err:
            raise OncallError(f"Prometheus is not reachable: {err}") from err
        if not isinstance(answer, dict) or answer.get("status") != "success":
            raise OncallError(f"Prometheus at {self.url} answered an error: {answer}")
        return answer["data"]

    def query_range(
        self, query: str, start: float, end: float, step: float
    ) -> list[dict[str, Any]]:
        """The matrix result: ``[{"metric": {...}, "values": [[t, "v"], ...]}, ...]``."""
        data = self._get(
            "/api/v1/query_range",
            {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"},
        )
        return list(data.get("result", []))

    def alerting_rules(self) -> list[RuleInfo]:
        data = self._get("/api/v1/rules", {"type": "alert"})
        rules = []
        for group in data.get("groups", []):
            interval = float(group.get("interval", 0))
            for rule in group.get("rules", []):
                if rule.get("type") != "alerting":
                    continue
                rules.append(
                    RuleInfo(
                        name=str(rule["name"]),
                        labels={str(k): str(v) for k, v in (rule.get("labels") or {}).items()},
                        for_seconds=float(rule.get("duration", 0)),
                        interval_seconds=interval,
                    )
                )
        return rules
