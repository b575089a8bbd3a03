"""What a role sees of a record: the category filter and every masking style, exactly.

Each style has its expected output written out, so a change to how much of a value shows (one
more kept character, an unkeyed hash, a style that falls back to showing the value) fails here.
Categories outside the role are withheld, and counted, never passed through.
"""

from __future__ import annotations

import hashlib
import hmac

import pytest

from confida.authz import Resource, authorise
from confida.masking import REDACTED, Grant, mask_value, role_view
from confida.operation import Operation, subject_actor, system_actor
from confida.register.loader import load_register
from confida.register.models import Register, Role
from tests.conftest import SAMPLE_REGISTER

KEY = b"k" * 32
OTHER_KEY = b"o" * 32


@pytest.fixture(scope="module")
def register() -> Register:
    return load_register(SAMPLE_REGISTER)


def _grant(categories: list[str], masking: dict[str, str] | None = None) -> Grant:
    role = Role(description="test role", actions=["read"], purposes=["service"],
                categories=categories, masking=masking or {})  # type: ignore[arg-type]
    return Grant(rule="role:tester", role_name="tester", role=role)


# --- one value, one style ----------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    ("ada@example.org", "a***@example.org"),
    ("first.last@sub.example", "f***@sub.example"),
    ("a@b@c.example", "a***@c.example"),     # the domain is what follows the last "@"
    ("no-at-sign", "no******gn"),            # not an address: masked as partial
    ("@example.org", "@e********rg"),        # nothing before "@": masked as partial
    ("x", "*"),
])
def test_email(value: str, expected: str) -> None:
    assert mask_value(value, "email") == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("", ""),
    ("a", "*"),
    ("ab", "**"),
    ("abc", "a*c"),
    ("abcd", "a**d"),
    ("abcde", "a***e"),
    ("abcdefghij", "ab******ij"),
    ("Ada Example", "Ad*******le"),
    ("abcdefghijklmnopqrstuvwxy", "abcde***************uvwxy"),
])
def test_partial(value: str, expected: str) -> None:
    assert mask_value(value, "partial") == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("4111111111111111", "************1111"),
    ("12345", "*2345"),
    ("1234", "****"),                        # four or fewer: nothing shown
    ("12", "**"),
    ("", ""),
])
def test_last4(value: str, expected: str) -> None:
    assert mask_value(value, "last4") == expected


def test_hash_is_keyed() -> None:
    expected = "h:" + hmac.new(KEY, b"ada@example.org", hashlib.sha256).hexdigest()[:32]
    assert mask_value("ada@example.org", "hash", KEY) == expected
    assert mask_value("ada@example.org", "hash", KEY) == expected  # stable: joins still work
    assert mask_value("ada@example.org", "hash", OTHER_KEY) != expected
    assert mask_value("bob@example.org", "hash", KEY) != expected
    unkeyed = "h:" + hashlib.sha256(b"ada@example.org").hexdigest()[:32]
    assert expected != unkeyed
    assert mask_value("ada@example.org", "hash") == REDACTED  # no key: nothing to show
    assert mask_value(4711, "hash", KEY) == \
        "h:" + hmac.new(KEY, b"4711", hashlib.sha256).hexdigest()[:32]


@pytest.mark.parametrize("style", ["redact", "bogus", "", "NONE", "Email"])
def test_redact_and_unknown_styles_show_nothing(style: str) -> None:
    assert mask_value("ada@example.org", style) == REDACTED
    assert mask_value(4711, style) == REDACTED


def test_none_style_and_none_value_pass_through() -> None:
    assert mask_value("ada@example.org", "none") == "ada@example.org"
    assert mask_value({"a": 1}, "none") == {"a": 1}
    for style in ("email", "partial", "last4", "hash", "redact"):
        assert mask_value(None, style, KEY) is None


@pytest.mark.parametrize("style", ["email", "partial", "last4", "hash", "redact", "bogus"])
def test_structures_are_redacted_whole(style: str) -> None:
    for value in ({"street": "Musterstraße 1"}, ["ada@example.org"], {}, []):
        assert mask_value(value, style, KEY) == REDACTED


def test_non_strings_are_masked_on_their_text() -> None:
    assert mask_value(4111111111111111, "last4") == "************1111"
    assert mask_value(12345, "partial") == "1***5"
    assert mask_value(True, "partial") == "T**e"
    assert mask_value(12.5, "last4") == "****"
    assert mask_value(123456.75, "last4") == "*****6.75"


# --- the role's rules ----------------------------------------------------------------------------


def test_may_see_only_listed_categories() -> None:
    g = _grant(["contact.email"])
    assert g.may_see("contact.email")
    assert not g.may_see("identity.name")
    assert not g.may_see("*")
    assert not _grant([]).may_see("contact.email")
    star = _grant(["*"])
    assert star.may_see("contact.email") and star.may_see("health.data")


def test_mask_style_per_category_then_star_then_none() -> None:
    g = _grant(["*"], {"contact.email": "email", "*": "partial"})
    assert g.mask_style("contact.email") == "email"
    assert g.mask_style("identity.name") == "partial"
    only = _grant(["*"], {"contact.email": "email"})
    assert only.mask_style("contact.email") == "email"
    assert only.mask_style("identity.name") == "none"
    assert _grant(["*"]).mask_style("contact.email") == "none"


ACCOUNT = {"email": "ada@example.org", "display_name": "Ada Example", "plan": "pro",
           "locale": "de-DE", "country": "DE"}


def test_role_view_withholds_and_counts_categories_outside_the_role(register: Register) -> None:
    g = _grant(["contact.email", "identity.name"], {"contact.email": "email",
                                                    "identity.name": "partial"})
    assert role_view(register, g, "account", ACCOUNT) == (
        {"email": "a***@example.org", "display_name": "Ad*******le"}, 3)


def test_role_view_withholds_fields_the_register_does_not_declare(register: Register) -> None:
    g = _grant(["*"])
    out, withheld = role_view(register, g, "account", {**ACCOUNT, "password": "hunter2"})
    assert out == ACCOUNT and withheld == 1


def test_role_view_star_masking_applies_to_every_category(register: Register) -> None:
    g = _grant(["*"], {"*": "redact", "account.locale": "none"})
    out, withheld = role_view(register, g, "account", ACCOUNT)
    assert out == {"email": REDACTED, "display_name": REDACTED, "plan": REDACTED,
                   "locale": "de-DE", "country": "DE"}
    assert withheld == 0


def test_role_view_hash_uses_the_key_it_is_given(register: Register) -> None:
    g = _grant(["contact.email"], {"contact.email": "hash"})
    keyed, _ = role_view(register, g, "account", {"email": "ada@example.org"}, KEY)
    other, _ = role_view(register, g, "account", {"email": "ada@example.org"}, OTHER_KEY)
    assert keyed["email"] == mask_value("ada@example.org", "hash", KEY) != other["email"]
    assert role_view(register, g, "account", {"email": "ada@example.org"}) == (
        {"email": REDACTED}, 0)


def test_sample_support_role_sees_masked_identity_only(register: Register) -> None:
    g = Grant(rule="role:support", role_name="support", role=register.roles["support"])
    msg = {"conversation_id": "c1", "role": "user", "text": "my code word is MARMOT"}
    assert role_view(register, g, "conversation_message", msg) == (
        {"conversation_id": "c1", "role": "user"}, 1)
    assert role_view(register, g, "account", ACCOUNT)[0] == {
        "email": "a***@example.org", "display_name": "Ad*******le", "plan": "pro",
        "locale": "de-DE", "country": "DE"}


def _roleless_grant(register: Register, who: str) -> Grant:
    """The grant ``authorise`` really gives a named internal job or the data subject themself."""
    if who == "system":
        actor = system_actor("retention")
        resource = Resource(purpose="service")
    else:
        actor = subject_actor("subject-1", "token:t1")
        resource = Resource(subject_id="subject-1")
    return authorise(actor, "read", resource, register=register,
                     op=Operation("test.read", actor))


@pytest.mark.parametrize("who", ["system", "subject"])
def test_a_grant_without_a_role_sees_everything(register: Register, who: str) -> None:
    """A system job, or the person reading their own data (Art. 15), sees every field unmasked."""
    grant = _roleless_grant(register, who)
    assert grant.role is None
    for spec in register.kind("account").fields.values():
        assert grant.may_see(spec.category) and grant.mask_style(spec.category) == "none"
    data = dict(ACCOUNT)
    out, withheld = role_view(register, grant, "account", data, KEY)
    assert out == data and withheld == 0
    out["email"] = "changed"
    assert data["email"] == "ada@example.org"  # a copy, not the caller's dict
