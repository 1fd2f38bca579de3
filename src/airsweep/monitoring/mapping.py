"""StatsD -> Prometheus metric mapping with statsd_exporter's semantics.

Loads and validates the mapping file (``monitoring/statsd/mapping.yml``) that the
official ``prom/statsd-exporter`` image reads, and resolves StatsD names the way
statsd_exporter does (``pkg/mapper`` in https://github.com/prometheus/statsd_exporter):

* ``glob`` matches (the default) split names at dots; ``*`` matches exactly one
  segment and captures it. Glob mappings are tried before any ``regex`` mapping,
  whatever their position in the file; among globs the first match wins.
* ``regex`` matches use ``re.search`` (unanchored, like Go's ``FindStringSubmatch``)
  in file order.
* ``$n`` / ``${n}`` in ``name`` and ``labels`` expand to captures (glob: the n-th
  ``*``; regex: group n or a named group, with Go's ``ExpandString`` rules).
* ``match_metric_type`` (counter, gauge, observer) restricts a mapping to one type.
* ``action: drop`` discards matching metrics.
* ``observer_type`` (histogram or summary, default summary), ``histogram_options``,
  ``summary_options`` and ``scale`` decide how timers/histograms are exported;
  ``defaults`` supplies them to every mapping that does not set them.
* Unmatched names are exported under :func:`escape_metric_name` of the StatsD name.

Options that would silently behave differently in the native bridge are rejected
(``ttl``, ``glob_disable_ordering: true``, native histograms), as are unknown keys
(statsd_exporter parses the file strictly too). One more check goes beyond
statsd_exporter: a glob mapping that its state machine can never select (same path
as an earlier mapping, or a strict prefix of an earlier, longer one) is an error
instead of a silent no-op.
"""

from __future__ import annotations

import enum
import functools
import math
import re
from collections.abc import Mapping as MappingABC
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# Regular expressions from statsd_exporter's pkg/mapper/mapper.go.
_GLOB_MATCH_RE = re.compile(
    r"^(\*|[a-zA-Z_][a-zA-Z0-9_\-]*)(\.\*|\.[a-zA-Z0-9_][a-zA-Z0-9_\-]*)*$", re.ASCII
)
_TEMPLATE_RE = r"(\$\{?\d+\}?)"
_METRIC_NAME_RE = re.compile(
    rf"^([a-zA-Z_]|{_TEMPLATE_RE})([a-zA-Z0-9_]|{_TEMPLATE_RE})*$", re.ASCII
)
_LABEL_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]+$", re.ASCII)
# pkg/mapper/fsm/formatter.go: glob templates.
_GLOB_TEMPLATE_RE = re.compile(r"\$\{?([a-zA-Z0-9_$]+)\}?", re.ASCII)
_GO_DURATION_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_GO_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}

#: Prometheus client_golang's default histogram buckets (``prometheus.DefBuckets``).
DEFAULT_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
#: statsd_exporter's default summary quantiles as (quantile, allowed error).
DEFAULT_QUANTILES: tuple[tuple[float, float], ...] = ((0.5, 0.05), (0.9, 0.01), (0.99, 0.001))
#: client_golang's default summary window (``DefMaxAge``), in seconds.
DEFAULT_SUMMARY_MAX_AGE = 600.0

_TOP_KEYS = frozenset({"defaults", "mappings"})
_DEFAULTS_KEYS = frozenset(
    {
        "observer_type",
        "match_type",
        "glob_disable_ordering",
        "ttl",
        "summary_options",
        "histogram_options",
    }
)
_MAPPING_KEYS = frozenset(
    {
        "match",
        "name",
        "labels",
        "honor_labels",
        "observer_type",
        "match_type",
        "help",
        "action",
        "match_metric_type",
        "ttl",
        "summary_options",
        "histogram_options",
        "scale",
    }
)
_HISTOGRAM_KEYS = frozenset(
    {"buckets", "native_histogram_bucket_factor", "native_histogram_max_buckets"}
)
_SUMMARY_KEYS = frozenset({"quantiles", "max_age", "age_buckets", "buf_cap"})


class MetricType(enum.StrEnum):
    """StatsD event families as statsd_exporter's mapper sees them."""

    COUNTER = "counter"
    GAUGE = "gauge"
    OBSERVER = "observer"


class ObserverType(enum.StrEnum):
    """How observer events (timers, histograms, distributions) are exported."""

    HISTOGRAM = "histogram"
    SUMMARY = "summary"


class MatchType(enum.StrEnum):
    """How a mapping's ``match`` is interpreted."""

    GLOB = "glob"
    REGEX = "regex"


class Action(enum.StrEnum):
    """What happens to a matching metric."""

    MAP = "map"
    DROP = "drop"


class MappingError(ValueError):
    """The mapping file is invalid or uses a feature the bridge does not implement."""


@dataclass(frozen=True)
class MetricMapping:
    """One validated entry of ``mappings:`` with defaults applied.

    Attributes:
        index: Position in the file (0-based).
        match: The glob or regular expression.
        name: Prometheus name template.
        labels: Label name -> value template.
        match_type: Glob or regex.
        action: Map or drop.
        match_metric_type: Restricts the mapping to one event type; ``None`` for all.
        observer_type: Histogram or summary (observer events only).
        buckets: Histogram bucket upper bounds, in increasing order.
        quantiles: Summary objectives as (quantile, allowed error).
        summary_max_age: Summary window in seconds.
        scale: Factor applied to every value, or ``None``.
        help: Help text of the exported metric ("" for statsd_exporter's default).
    """

    index: int
    match: str
    name: str
    labels: tuple[tuple[str, str], ...]
    match_type: MatchType
    action: Action
    match_metric_type: MetricType | None
    observer_type: ObserverType
    buckets: tuple[float, ...]
    quantiles: tuple[tuple[float, float], ...]
    summary_max_age: float
    scale: float | None
    help: str


@dataclass(frozen=True)
class MappingResult:
    """A StatsD name resolved by a mapping.

    Attributes:
        mapping: The mapping that matched.
        name: Prometheus metric name after ``$n`` expansion (not yet escaped).
        labels: Label values after ``$n`` expansion.
    """

    mapping: MetricMapping
    name: str
    labels: dict[str, str]


def escape_metric_name(name: str) -> str:
    """Turn a StatsD name into a valid Prometheus name, as statsd_exporter does.

    Every character outside ``[a-zA-Z0-9_]`` becomes ``_``, runs of ``-`` collapse to
    one ``_``, and a leading digit gets a ``_`` prefix (``pkg/mapper/escape.go``).

    Args:
        name: StatsD metric name, e.g. ``airflow.dag_processing.last_duration``.

    Returns:
        The escaped name, e.g. ``airflow_dag_processing_last_duration``.
    """
    out: list[str] = ["_"] if name[:1].isdigit() and name[:1].isascii() else []
    offset = 0
    prev = ""
    for i, char in enumerate(name):
        if char.isascii() and (char.isalnum() or char == "_"):
            prev = char
            continue
        if char == "-" and prev == "-":
            offset = i + 1
            continue
        out.append(name[offset:i])
        out.append("_")
        offset = i + 1
        prev = char
    out.append(name[offset:])
    return "".join(out)


def _parse_go_duration(value: object, where: str) -> float:
    """Parse a Go duration string (``10m``, ``1h30m``, ``500ms``) into seconds.

    Bare numbers are rejected: Go would read them as nanoseconds.
    """
    if not isinstance(value, str) or not value:
        raise MappingError(f"{where}: expected a duration such as '10m', got {value!r}")
    pos = 0
    total = 0.0
    for part in _GO_DURATION_RE.finditer(value):
        if part.start() != pos:
            break
        total += float(part.group(1)) * _GO_DURATION_UNITS[part.group(2)]
        pos = part.end()
    if pos != len(value):
        raise MappingError(f"{where}: invalid duration {value!r}")
    return total


def _format_glob_template(template: str, captures: Sequence[str]) -> str:
    """Expand ``$n``/``${n}`` like statsd_exporter's ``fsm.TemplateFormatter``.

    A reference that is not a number in 1..len(captures) (``$0``, ``$3`` with two
    captures, or ``$1_total`` which reads as a reference named ``1_total``) expands to
    the empty string, exactly as in statsd_exporter: write ``${1}_total``.
    """

    def repl(match: re.Match[str]) -> str:
        ref = match.group(1)
        if ref.isdigit() and 1 <= int(ref) <= len(captures):
            return captures[int(ref) - 1]
        return ""

    return _GLOB_TEMPLATE_RE.sub(repl, template)


def _go_template_ref(text: str) -> tuple[str, int, str] | None:
    """Parse a reference after ``$`` like Go's ``regexp.extract``.

    Returns:
        (name, number or -1, rest of the template), or ``None`` if malformed.
    """
    brace = text.startswith("{")
    if brace:
        text = text[1:]
    i = 0
    while i < len(text) and (text[i].isalnum() or text[i] == "_"):
        i += 1
    if i == 0:
        return None
    name = text[:i]
    if brace:
        if i >= len(text) or text[i] != "}":
            return None
        i += 1
    number = int(name) if name.isascii() and name.isdigit() and len(name) < 9 else -1
    if name[0] == "0" and len(name) > 1:
        number = -1
    return name, number, text[i:]


def _expand_regex_template(template: str, match: re.Match[str]) -> str:
    """Expand a template like Go's ``Regexp.ExpandString`` (``$1``, ``${name}``, ``$$``)."""
    out: list[str] = []
    rest = template
    while True:
        before, dollar, rest = rest.partition("$")
        out.append(before)
        if not dollar:
            return "".join(out)
        if rest.startswith("$"):
            out.append("$")
            rest = rest[1:]
            continue
        ref = _go_template_ref(rest)
        if ref is None:
            out.append("$")
            continue
        name, number, rest = ref
        group_count = match.re.groups
        if 0 <= number <= group_count:
            out.append(match.group(number) or "")
        elif number < 0 and name in match.re.groupindex:
            out.append(match.group(name) or "")


def _require_keys(raw: MappingABC[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise MappingError(f"{where}: unknown field(s) {', '.join(unknown)}")


def _as_dict(value: object, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MappingError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def _enum(enum_type: type[enum.StrEnum], value: object, where: str) -> Any:
    try:
        return enum_type(value)
    except ValueError:
        allowed = ", ".join(member.value for member in enum_type)
        raise MappingError(f"{where}: invalid value {value!r} (allowed: {allowed})") from None


def _buckets(raw: dict[str, Any], where: str) -> tuple[float, ...] | None:
    _require_keys(raw, _HISTOGRAM_KEYS, where)
    native = sorted(set(raw) & {"native_histogram_bucket_factor", "native_histogram_max_buckets"})
    if native:
        raise MappingError(f"{where}: {', '.join(native)} not supported by the airsweep bridge")
    buckets = raw.get("buckets")
    if not buckets:
        return None
    if not isinstance(buckets, list) or not all(
        isinstance(b, int | float) and not isinstance(b, bool) for b in buckets
    ):
        raise MappingError(f"{where}.buckets: expected a list of numbers")
    values = tuple(float(b) for b in buckets if not math.isinf(b))
    if any(high <= low for low, high in zip(values, values[1:], strict=False)):
        raise MappingError(f"{where}.buckets: must be strictly increasing")
    return values


@dataclass(frozen=True)
class _SummaryOptions:
    quantiles: tuple[tuple[float, float], ...] | None
    max_age: float | None


def _summary_options(raw: dict[str, Any], where: str) -> _SummaryOptions:
    _require_keys(raw, _SUMMARY_KEYS, where)
    quantiles = None
    if raw.get("quantiles"):
        items = raw["quantiles"]
        if not isinstance(items, list):
            raise MappingError(f"{where}.quantiles: expected a list")
        parsed = []
        for item in items:
            entry = _as_dict(item, f"{where}.quantiles[]")
            _require_keys(entry, frozenset({"quantile", "error"}), f"{where}.quantiles[]")
            quantile = float(entry.get("quantile", 0.0))
            if not 0.0 <= quantile <= 1.0:
                raise MappingError(f"{where}.quantiles: {quantile} is not in [0, 1]")
            parsed.append((quantile, float(entry.get("error", 0.0))))
        quantiles = tuple(parsed)
    max_age = None
    if raw.get("max_age"):
        max_age = _parse_go_duration(raw["max_age"], f"{where}.max_age")
    return _SummaryOptions(quantiles, max_age)


class MetricMapper:
    """Resolves StatsD names to Prometheus names and labels.

    Build one with :func:`load_mapping` or :meth:`from_yaml`. Lookups are cached.
    """

    def __init__(self, mappings: Sequence[MetricMapping], fallback: MetricMapping) -> None:
        """Create a mapper from validated mappings.

        Args:
            mappings: Mappings in file order.
            fallback: The ``defaults`` as a mapping: observer type, buckets and summary
                options for metrics that no mapping matches.
        """
        self.mappings: tuple[MetricMapping, ...] = tuple(mappings)
        self.fallback = fallback
        self._globs: dict[int, list[tuple[MetricMapping, tuple[str, ...]]]] = {}
        self._regexes: list[tuple[MetricMapping, re.Pattern[str]]] = []
        for mapping in self.mappings:
            if mapping.match_type is MatchType.GLOB:
                fields = tuple(mapping.match.split("."))
                self._globs.setdefault(len(fields), []).append((mapping, fields))
            else:
                self._regexes.append((mapping, re.compile(mapping.match, re.ASCII)))
        self._cached_lookup = functools.lru_cache(maxsize=10_000)(self._lookup)

    @classmethod
    def from_yaml(cls, text: str, source: str = "<mapping>") -> MetricMapper:
        """Parse and validate mapping YAML.

        Args:
            text: YAML document with ``defaults`` and ``mappings``.
            source: Name used in error messages.

        Returns:
            The mapper.

        Raises:
            MappingError: If the document is invalid or uses an unsupported option.
        """
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise MappingError(f"{source}: invalid YAML: {exc}") from exc
        doc = _as_dict(doc, source)
        _require_keys(doc, _TOP_KEYS, source)
        defaults = _as_dict(doc.get("defaults"), f"{source}: defaults")
        _require_keys(defaults, _DEFAULTS_KEYS, f"{source}: defaults")
        if defaults.get("glob_disable_ordering"):
            raise MappingError(f"{source}: defaults.glob_disable_ordering not supported")
        if defaults.get("ttl"):
            raise MappingError(f"{source}: defaults.ttl not supported by the airsweep bridge")
        default_observer = _enum(
            ObserverType, defaults.get("observer_type") or "summary", f"{source}: defaults"
        )
        default_match = _enum(MatchType, defaults.get("match_type") or "glob", f"{source}")
        default_buckets = (
            _buckets(
                _as_dict(defaults.get("histogram_options"), "defaults"),
                f"{source}: defaults.histogram_options",
            )
            or DEFAULT_BUCKETS
        )
        default_summary = _summary_options(
            _as_dict(defaults.get("summary_options"), "defaults"),
            f"{source}: defaults.summary_options",
        )
        raw_mappings = doc.get("mappings") or []
        if not isinstance(raw_mappings, list):
            raise MappingError(f"{source}: mappings must be a list")
        mappings = []
        for index, raw in enumerate(raw_mappings):
            where = f"{source}: mappings[{index}]"
            mappings.append(
                _parse_mapping(
                    index,
                    _as_dict(raw, where),
                    where,
                    default_match,
                    default_observer,
                    default_buckets,
                    default_summary,
                )
            )
        _check_reachable(mappings, source)
        fallback = MetricMapping(
            index=-1,
            match="",
            name="",
            labels=(),
            match_type=default_match,
            action=Action.MAP,
            match_metric_type=None,
            observer_type=default_observer,
            buckets=default_buckets,
            quantiles=default_summary.quantiles or DEFAULT_QUANTILES,
            summary_max_age=default_summary.max_age or DEFAULT_SUMMARY_MAX_AGE,
            scale=None,
            help="",
        )
        return cls(mappings, fallback)

    def get_mapping(self, name: str, metric_type: MetricType) -> MappingResult | None:
        """Find the mapping for a StatsD name, as statsd_exporter's ``GetMapping`` does.

        Args:
            name: StatsD metric name, e.g. ``airflow.ti.start.hpo_sweep.trial``.
            metric_type: Event type of the sample.

        Returns:
            The match (possibly a ``drop`` mapping), or ``None`` when no mapping applies.
        """
        return self._cached_lookup(name, metric_type)

    def _lookup(self, name: str, metric_type: MetricType) -> MappingResult | None:
        fields = name.split(".")
        for mapping, pattern in self._globs.get(len(fields), ()):
            if mapping.match_metric_type not in (None, metric_type):
                continue
            captures = []
            for want, got in zip(pattern, fields, strict=True):
                if want == "*":
                    captures.append(got)
                elif want != got:
                    break
            else:
                return MappingResult(
                    mapping,
                    _format_glob_template(mapping.name, captures),
                    {k: _format_glob_template(v, captures) for k, v in mapping.labels},
                )
        for mapping, regex in self._regexes:
            found = regex.search(name)
            if found is None or mapping.match_metric_type not in (None, metric_type):
                continue
            return MappingResult(
                mapping,
                _expand_regex_template(mapping.name, found),
                {k: _expand_regex_template(v, found) for k, v in mapping.labels},
            )
        return None


def _parse_mapping(
    index: int,
    raw: dict[str, Any],
    where: str,
    default_match: MatchType,
    default_observer: ObserverType,
    default_buckets: tuple[float, ...],
    default_summary: _SummaryOptions,
) -> MetricMapping:
    """Validate one mapping entry and apply the defaults (mapper.go InitFromYAMLString)."""
    _require_keys(raw, _MAPPING_KEYS, where)
    if raw.get("ttl"):
        raise MappingError(f"{where}: ttl not supported by the airsweep bridge")
    match = raw.get("match")
    if not isinstance(match, str) or not match:
        raise MappingError(f"{where}: match must be a non-empty string")
    labels = _as_dict(raw.get("labels"), f"{where}.labels")
    for key, value in labels.items():
        if not isinstance(key, str) or not _LABEL_NAME_RE.match(key):
            raise MappingError(f"{where}: invalid label key: {key}")
        if not isinstance(value, str):
            raise MappingError(f"{where}: label {key} must be a string, got {value!r}")
    name = raw.get("name")
    if not name:
        raise MappingError(f"{where}: metric mapping didn't set a metric name")
    if not isinstance(name, str) or not _METRIC_NAME_RE.match(name):
        raise MappingError(f"{where}: metric name {name!r} is not a valid name template")
    match_type = _enum(MatchType, raw.get("match_type") or default_match, where)
    if match_type is MatchType.GLOB:
        if not _GLOB_MATCH_RE.match(match):
            raise MappingError(f"{where}: invalid match: {match}")
    else:
        try:
            re.compile(match, re.ASCII)
        except re.error as exc:
            raise MappingError(f"{where}: invalid regex {match}: {exc}") from exc
    metric_type = raw.get("match_metric_type")
    observer = _enum(ObserverType, raw.get("observer_type") or default_observer, where)
    histogram_raw = raw.get("histogram_options")
    summary_raw = raw.get("summary_options")
    if observer is ObserverType.HISTOGRAM and summary_raw is not None:
        raise MappingError(f"{where}: cannot use histogram observer and summary options")
    if observer is ObserverType.SUMMARY and histogram_raw is not None:
        raise MappingError(f"{where}: cannot use summary observer and histogram options")
    buckets = _buckets(_as_dict(histogram_raw, where), f"{where}.histogram_options")
    summary = _summary_options(_as_dict(summary_raw, where), f"{where}.summary_options")
    scale = raw.get("scale")
    if scale is not None and (not isinstance(scale, int | float) or isinstance(scale, bool)):
        raise MappingError(f"{where}: scale must be a number")
    help_text = raw.get("help") or ""
    if not isinstance(help_text, str):
        raise MappingError(f"{where}: help must be a string")
    return MetricMapping(
        index=index,
        match=match,
        name=name,
        labels=tuple(labels.items()),
        match_type=match_type,
        action=_enum(Action, raw.get("action") or "map", where),
        match_metric_type=None if metric_type is None else _enum(MetricType, metric_type, where),
        observer_type=observer,
        buckets=buckets or default_buckets,
        quantiles=summary.quantiles or default_summary.quantiles or DEFAULT_QUANTILES,
        summary_max_age=summary.max_age or default_summary.max_age or DEFAULT_SUMMARY_MAX_AGE,
        scale=None if scale is None else float(scale),
        help=help_text,
    )


def _check_reachable(mappings: Sequence[MetricMapping], source: str) -> None:
    """Reject glob mappings that statsd_exporter's state machine would never select.

    ``fsm.AddState`` only attaches a mapping to a state it creates. A glob whose full
    path (per metric type) already exists, because an earlier mapping has the same
    match or a longer match extending it, silently never matches there.
    """
    paths: dict[MetricType, set[tuple[str, ...]]] = {t: set() for t in MetricType}
    for mapping in mappings:
        if mapping.match_type is not MatchType.GLOB:
            continue
        fields = tuple(mapping.match.split("."))
        roots = (
            list(MetricType) if mapping.match_metric_type is None else [mapping.match_metric_type]
        )
        for root in roots:
            if fields in paths[root]:
                raise MappingError(
                    f"{source}: mappings[{mapping.index}] match {mapping.match!r} can never "
                    f"match {root} metrics: an earlier mapping already uses this path (same "
                    "match, or a longer match that starts with it); move it before them"
                )
            paths[root].update(fields[: i + 1] for i in range(len(fields)))


def load_mapping(path: str | Path) -> MetricMapper:
    """Load and validate a statsd_exporter mapping file.

    Args:
        path: Path of the YAML file.

    Returns:
        The mapper.

    Raises:
        MappingError: If the file is invalid or uses an unsupported option.
        OSError: If the file cannot be read.
    """
    file = Path(path)
    return MetricMapper.from_yaml(file.read_text(encoding="utf-8"), str(file))
