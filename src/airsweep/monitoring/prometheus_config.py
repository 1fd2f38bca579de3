r"""Render the native-mode Prometheus config from the docker compose one.

``monitoring/prometheus/prometheus.yml`` is written for compose (service DNS names,
secrets under ``/etc/prometheus``). Native mode runs the same jobs on local ports, so
this module only rewrites each job's target, the Flower password file and the rule
file paths; everything else (intervals, auth, rules) stays identical::

    python -m airsweep.monitoring.prometheus_config \
        --template monitoring/prometheus/prometheus.yml --out .airsweep/prometheus.yml \
        --flower-password-file .airsweep/secrets/flower_password \
        --target prometheus=127.0.0.1:9090 --target statsd-exporter=127.0.0.1:9102 \
        --target flower=127.0.0.1:5555 --target queue-exporter=127.0.0.1:9808
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml


def render_native_config(
    template: Path, targets: dict[str, str], out: Path, flower_password_file: Path
) -> Path:
    """Write a copy of the compose Prometheus config with local targets.

    Args:
        template: The compose ``prometheus.yml``.
        targets: Job name -> ``host:port``; must name every job of the template.
        out: Where to write the native config (parent directories are created).
        flower_password_file: File holding Flower's basic-auth password; replaces
            ``password_file`` of every job that uses basic auth.

    Returns:
        ``out``.

    Raises:
        ValueError: If ``targets`` misses a job of the template or names an unknown one.
    """
    config = yaml.safe_load(template.read_text(encoding="utf-8"))
    jobs = {job["job_name"]: job for job in config.get("scrape_configs", [])}
    if set(jobs) != set(targets):
        raise ValueError(
            f"targets must name exactly the jobs {sorted(jobs)}; got {sorted(targets)}"
        )
    for name, job in jobs.items():
        static = (job.get("static_configs") or [{}])[0]
        job["static_configs"] = [{**static, "targets": [targets[name]]}]
        if "basic_auth" in job:
            job["basic_auth"]["password_file"] = str(flower_password_file.resolve())
    config["rule_files"] = [
        str((template.parent / rule).resolve()) for rule in config.get("rule_files", [])
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    header = f"# Generated from {template} by airsweep.monitoring.prometheus_config.\n"
    out.write_text(header + yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    """Command-line wrapper of :func:`render_native_config`.

    Args:
        argv: Command-line arguments without the program name (default: ``sys.argv``).

    Returns:
        0 on success, 2 on invalid arguments.
    """
    parser = argparse.ArgumentParser(
        prog="python -m airsweep.monitoring.prometheus_config",
        description="Render the native Prometheus config from the compose one.",
    )
    parser.add_argument("--template", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--flower-password-file", type=Path, required=True)
    parser.add_argument(
        "--target", action="append", default=[], metavar="JOB=HOST:PORT", required=True
    )
    args = parser.parse_args(argv)
    targets = dict(item.partition("=")[::2] for item in args.target)
    try:
        render_native_config(args.template, targets, args.out, args.flower_password_file)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        print(f"prometheus_config: {exc}", file=sys.stderr)
        return 2
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
