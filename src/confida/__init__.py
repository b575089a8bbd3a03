"""Confida: GDPR and confidentiality by construction for AI services."""

__version__ = "0.1.0"
