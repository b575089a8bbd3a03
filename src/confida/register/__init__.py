"""The processing register: what is collected, why, on what basis, for how long, for whom."""

from confida.register.duration import Duration
from confida.register.loader import (
    Problem,
    RegisterCheck,
    check_register_file,
    check_register_text,
    load_register,
    parse_register,
)
from confida.register.models import (
    Category,
    FieldSpec,
    Kind,
    LegalBasis,
    Purpose,
    Register,
    Role,
    SpecialCategoryCondition,
)

__all__ = [
    "Category", "Duration", "FieldSpec", "Kind", "LegalBasis", "Problem", "Purpose", "Register",
    "RegisterCheck", "Role", "SpecialCategoryCondition", "check_register_file",
    "check_register_text", "load_register", "parse_register",
]
