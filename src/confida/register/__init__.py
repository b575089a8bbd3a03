"""The processing register: what is collected, why, on what basis, for how long, for whom."""

from confida.register.duration import Duration
from confida.register.loader import load_register, parse_register
from confida.register.models import (
    Category,
    FieldSpec,
    Kind,
    LegalBasis,
    Purpose,
    Register,
    Role,
)

__all__ = [
    "Category", "Duration", "FieldSpec", "Kind", "LegalBasis", "Purpose", "Register", "Role",
    "load_register", "parse_register",
]
