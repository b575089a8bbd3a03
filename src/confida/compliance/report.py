"""The compliance report as Markdown, a self-contained HTML page, or JSON."""

from __future__ import annotations

import json
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from confida.compliance.run import ComplianceReport
from confida.errors import BadInput

FORMATS = ("md", "html", "json")


def as_dict(report: ComplianceReport) -> dict[str, Any]:
    return {
        "ran_at": report.ran_at.isoformat(),
        "controller": report.controller,
        "register_version": report.register_version,
        "notice_version": report.notice_version,
        "passed": report.passed,
        "failed": report.failed,
        "not_applicable": report.not_applicable,
        "checks": [
            {"id": r.id, "title": r.title, "article": r.article, "status": r.status,
             "passed": r.passed, "evidence": r.evidence, "details": r.details}
            for r in report.results
        ],
    }


def render(report: ComplianceReport, fmt: str = "md") -> str:
    if fmt not in FORMATS:
        raise BadInput(f"report format must be one of {', '.join(FORMATS)}")
    doc = as_dict(report)
    if fmt == "json":
        return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"
    env = Environment(
        loader=PackageLoader("confida.compliance", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return env.get_template(f"report.{fmt}.j2").render(**doc)

