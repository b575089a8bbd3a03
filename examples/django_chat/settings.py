"""Minimal settings for the example (no database: the data lives in Confida).

In your project, add ``CONFIDA_URL``, ``CONFIDA_API_KEY``, ``CONFIDA_CA`` and the middleware to
your own settings. The values come from the environment here, as they should in production.
"""

from __future__ import annotations

import os

_PACKAGE = __package__ or "django_chat"  # works at examples.django_chat or copied alone

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-a-secret")
DEBUG = os.environ.get("DJANGO_DEBUG") == "1"
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1").split(",")

INSTALLED_APPS: list[str] = []
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    f"{_PACKAGE}.middleware.ConfidaMiddleware",
]
ROOT_URLCONF = f"{_PACKAGE}.urls"
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True

# Confida: the base URL, an API key of a role that may collect, read and consent (the sample
# register's `service`), and the CA file of Confida's certificate (unset: the system CAs).
CONFIDA_URL = os.environ.get("CONFIDA_URL", "https://127.0.0.1:8443")
CONFIDA_API_KEY = os.environ.get("CONFIDA_API_KEY", "")
CONFIDA_CA = os.environ.get("CONFIDA_CA") or None
