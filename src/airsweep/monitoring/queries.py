"""Every PromQL query of the dashboards and alert rules, ready to run.

Used by the unit tests (static checks) and by the integration test that runs each
query against a live Prometheus. Grafana variables are substituted so that the
result is plain PromQL: ``$__rate_interval``/``$__interval`` -> ``1m``,
``$__range`` -> ``1h``, and dashboard variables (``$sweep``, ``${dag_id}``) -> ``.*``,
which is only valid inside a regex matcher (``label=~"$sweep"``), the only place the
dashboards may use them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

#: ``monitoring/`` of the source checkout.
MONITORING_DIR = Path(__file__).resolve().parents[3] / "monitoring"
DASHBOARD_DIR = MONITORING_DIR / "grafana" / "dashboards"
ALERTS_FILE = MONITORING_DIR / "prometheus" / "alerts.yml"

_BUILTINS = {
    "__rate_interval": "1m",
    "__interval": "1m",
    "__interval_ms": "60000",
    "__range": "1h",
    "__range_s": "3600",
    "__range_ms": "3600000",
}
_VARIABLE_RE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")
_REGEX_MATCHER_RE = re.compile(r'(=~|!~)\s*"((?:[^"\\]|\\.)*)"')
_STRING_RE = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GROUPING_RE = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_IDENT_RE = re.compile(r"(?<![\w.:])[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_VALUES_RE = re.compile(r"^\s*label_values\(\s*(.+?)\s*,\s*(\w+)\s*\)\s*$", re.DOTALL)
_KEYWORDS = frozenset(
    {
        "and",
        "or",
        "unless",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "offset",
        "bool",
        "inf",
        "nan",
    }
)
_PAIRS = {")": "(", "]": "[", "}": "{"}


@dataclass(frozen=True)
class PromQuery:
    """One query found in a dashboard or rule file.

    Attributes:
        source: File name the query comes from.
        context: Panel title, ``variable <name>`` or alert name.
        ref: Grafana refId, or the rule group name.
        expr: Runnable PromQL (Grafana variables substituted).
        raw: The query as written in the file.
    """

    source: str
    context: str
    ref: str
    expr: str
    raw: str


def render_grafana_expr(expr: str, values: Mapping[str, str] | None = None) -> str:
    """Substitute Grafana variables to get plain PromQL.

    Args:
        expr: A panel query, e.g. ``rate(x{sweep=~"$sweep"}[$__rate_interval])``.
        values: Values of some variables by name (without ``$``): a dashboard
            variable's value is a regex (``{"sweep": "hpo_sweep__manual_1"}``), a
            built-in's a duration (``{"__range": "300s"}``). The others get the
            defaults above.

    Returns:
        e.g. ``rate(x{sweep=~".*"}[1m])``.

    Raises:
        ValueError: If a dashboard variable is used outside a regex matcher string, or
            a ``$__`` variable is unknown.
    """
    values = values or {}

    def variable(match: re.Match[str]) -> str:
        return values.get(match.group(1) or match.group(2) or match.group(3), ".*")

    def in_matcher(match: re.Match[str]) -> str:
        return f'{match.group(1)}"{_VARIABLE_RE.sub(variable, match.group(2))}"'

    rendered = _REGEX_MATCHER_RE.sub(in_matcher, expr)

    def builtin(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(3)
        if name in _BUILTINS:
            return values.get(name, _BUILTINS[name])
        raise ValueError(f"variable ${name} outside a regex matcher in {expr!r}")

    return _VARIABLE_RE.sub(builtin, rendered)


def check_brackets(expr: str) -> None:
    """Check that (), [] and {} are balanced outside string literals.

    Args:
        expr: A PromQL expression.

    Raises:
        ValueError: On the first unbalanced bracket.
    """
    stack: list[str] = []
    for char in _STRING_RE.sub('""', expr):
        if char in "([{":
            stack.append(char)
        elif char in _PAIRS and (not stack or stack.pop() != _PAIRS[char]):
            raise ValueError(f"unbalanced {char!r} in {expr!r}")
    if stack:
        raise ValueError(f"unclosed {stack[-1]!r} in {expr!r}")


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (a lexical approximation).

    Strings, label matchers, ranges and grouping label lists are removed; the remaining
    identifiers that are not keywords and not followed by ``(`` (functions and
    aggregations) are metric names.

    Args:
        expr: Plain PromQL (see :func:`render_grafana_expr`).

    Returns:
        The metric names, e.g. ``{"airsweep_trial_duration_seconds_bucket"}``.
    """
    text = _STRING_RE.sub('""', expr)
    text = re.sub(r"\{[^{}]*\}", " ", text)
    text = re.sub(r"\[[^\[\]]*\]", " ", text)
    text = _GROUPING_RE.sub(" ", text)
    names = set()
    for match in _IDENT_RE.finditer(text):
        following = text[match.end() :].lstrip()
        if match.group() in _KEYWORDS or following.startswith("("):
            continue
        names.add(match.group())
    return names


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def dashboard_panels(path: Path) -> Iterator[dict[str, Any]]:
    """Yield every panel of a Grafana dashboard JSON file, rows' panels included, in order."""
    yield from _panels(json.loads(path.read_text(encoding="utf-8")).get("panels", []))


def iter_dashboard_queries(dashboard_dir: Path = DASHBOARD_DIR) -> Iterator[PromQuery]:
    """Yield every PromQL query of the provisioned dashboards.

    Panel targets are yielded as written (variables substituted). Template variables
    defined with ``label_values(<selector>, <label>)`` are yielded as
    ``group by (<label>) (<selector>)``.

    Args:
        dashboard_dir: Folder of Grafana dashboard JSON files.

    Yields:
        One :class:`PromQuery` per query, files in name order.
    """
    for path in sorted(dashboard_dir.glob("*.json")):
        dashboard = json.loads(path.read_text(encoding="utf-8"))
        for variable in dashboard.get("templating", {}).get("list", []):
            query = variable.get("query")
            raw = query.get("query", "") if isinstance(query, dict) else str(query or "")
            found = _LABEL_VALUES_RE.match(raw)
            if variable.get("type") == "query" and found:
                expr = f"group by ({found.group(2)}) ({render_grafana_expr(found.group(1))})"
                yield PromQuery(path.name, f"variable {variable['name']}", "", expr, raw)
        for panel in dashboard_panels(path):
            for target in panel.get("targets", []):
                if target.get("expr"):
                    yield PromQuery(
                        path.name,
                        panel.get("title", ""),
                        target.get("refId", ""),
                        render_grafana_expr(target["expr"]),
                        target["expr"],
                    )


def iter_alert_queries(rules_file: Path = ALERTS_FILE) -> Iterator[PromQuery]:
    """Yield the expression of every alerting and recording rule.

    Args:
        rules_file: A Prometheus rule file.

    Yields:
        One :class:`PromQuery` per rule; ``context`` is the alert (or record) name and
        ``ref`` the group name.
    """
    doc = yaml.safe_load(rules_file.read_text(encoding="utf-8"))
    for group in doc.get("groups", []):
        for rule in group.get("rules", []):
            expr = str(rule["expr"]).strip()
            name = rule.get("alert") or rule.get("record", "")
            yield PromQuery(rules_file.name, name, group["name"], expr, expr)
