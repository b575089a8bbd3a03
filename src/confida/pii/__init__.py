"""PII detection and anonymisation (tentative public API; see docs/pii.md)."""
from confida.pii.detector import detect, detect_many
from confida.pii.finding import LABELS, Finding, summarize

__all__ = ["LABELS", "Finding", "detect", "detect_many", "summarize"]
