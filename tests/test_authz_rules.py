"""Each rule of the one access decision, called directly, with the decision it records.

``test_authz_matrix.py`` checks every entry point against the register's words; these tests pin
the rules themselves at their edges (which job names count, which subject actions, when a
purpose must be stated, how purpose binding reads ``compatible_with``) and the exact decision
written into the operation, because that is what the audit entry says about the access.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.resources import files

import pytest

from confida.authz import SUBJECT_ACTIONS, Grant, Resource, authorise
from confida.errors import AccessDenied, PurposeNotAllowed, PurposeRequired, UnknownPurpose
from confida.operation import SYSTEM_JOBS, Actor, Operation, subject_actor, system_actor
from confida.register.loader import load_register
from confida.register.models import Register, Role

REG: Register = load_register(str(files("confida.data") / "sample-register.yaml"))


def _op(actor: Actor) -> Operation:
    return Operation("test.authz", actor)


def _denied(actor: Actor, action: str, res: Resource, exc: type[Exception]) -> dict:
    """Authorise expecting exactly ``exc``; return the decision recorded for the audit entry."""
    op = _op(actor)
    with pytest.raises(exc) as info:
        authorise(actor, action, res, register=REG, op=op)
    assert type(info.value) is exc
    assert op.decision is not None
    assert op.decision["action"] == action
    assert op.decision["decision"] == "denied"
    return op.decision


def _allowed(actor: Actor, action: str, res: Resource = Resource()) -> tuple[Grant, dict]:
    op = _op(actor)
    grant = authorise(actor, action, res, register=REG, op=op)
    assert op.decision == {"action": action, "decision": "allowed", "rule": grant.rule}
    return grant, op.decision


def _role(name: str) -> Actor:
    return Actor(id=f"key-{name}", role=name, source="api")


# -- named internal jobs ------------------------------------------------------------------


@pytest.mark.parametrize("job", sorted(SYSTEM_JOBS))
def test_every_named_job_is_allowed_under_its_own_rule(job: str) -> None:
    grant, decision = _allowed(system_actor(job), "erase")
    assert decision["rule"] == f"system:{job}"
    assert (grant.role, grant.role_name) == (None, None)


@pytest.mark.parametrize(
    "actor_id",
    ["system:nightly", "retention", "xsystem:retention", "system:", "system:system:retention"],
)
def test_an_unnamed_internal_actor_is_refused(actor_id: str) -> None:
    actor = Actor(id=actor_id, role=None, source="system")
    assert _denied(actor, "read", Resource(), AccessDenied)["rule"] == "unnamed-system"


# -- data subjects ------------------------------------------------------------------------

ME = subject_actor("subject-1", "tok-1")


@pytest.mark.parametrize("action", sorted(SUBJECT_ACTIONS))
def test_a_subject_may_do_each_subject_action_to_their_own_data(action: str) -> None:
    grant, decision = _allowed(ME, action, Resource(subject_id="subject-1"))
    assert decision["rule"] == "subject:self"
    assert grant.role is None  # the subject sees every field of their own data (Art. 15)


def test_the_subject_actions_are_exactly_these() -> None:
    assert {"list", "read", "consent", "rights", "requests"} == SUBJECT_ACTIONS


@pytest.mark.parametrize("action", ["collect", "update", "export", "erase", "detokenize", "audit"])
def test_a_subject_may_not_take_other_actions_even_on_their_own_data(action: str) -> None:
    res = Resource(subject_id="subject-1")
    assert _denied(ME, action, res, AccessDenied)["rule"] == "subject:action"


@pytest.mark.parametrize("subject_id", [None, "subject-2", ""])
def test_a_subject_acts_on_their_own_data_only(subject_id: str | None) -> None:
    res = Resource(subject_id=subject_id)
    assert _denied(ME, "read", res, AccessDenied)["rule"] == "subject:other"


def test_purpose_binding_applies_to_a_subject_too() -> None:
    res = Resource(purpose="analytics", collected_for=("safety",), subject_id="subject-1")
    assert _denied(ME, "read", res, PurposeNotAllowed)["rule"] == "purpose-binding"
    ok = Resource(purpose="safety", collected_for=("service",), subject_id="subject-1")
    assert _allowed(ME, "read", ok)[1]["rule"] == "subject:self"


# -- roles --------------------------------------------------------------------------------


def test_an_actor_without_role_subject_or_job_is_refused() -> None:
    for source in ("api", "cli", "web"):
        actor = Actor(id="anon", role=None, source=source)
        assert _denied(actor, "register", Resource(), AccessDenied)["rule"] == "no-role"


def test_an_undeclared_role_is_refused() -> None:
    assert _denied(_role("root"), "register", Resource(), AccessDenied)["rule"] == "unknown-role"


def test_a_role_may_only_take_its_own_actions() -> None:
    res = Resource(purpose="service")
    assert _denied(_role("support"), "update", res, AccessDenied)["rule"] == "role:support:action"
    assert _allowed(_role("support"), "read", res)[1]["rule"] == "role:support"


@pytest.mark.parametrize(
    ("role", "action"),
    [("service", "collect"), ("service", "read"), ("service", "list"), ("service", "update"),
     ("dpo", "export"), ("service", "detokenize")],
)
def test_a_purpose_limited_role_must_say_why_it_touches_personal_data(
    role: str, action: str
) -> None:
    decision = _denied(_role(role), action, Resource(), PurposeRequired)
    assert decision["rule"] == f"role:{role}:purpose"


@pytest.mark.parametrize(("role", "action"), [("service", "consent"), ("support", "register"),
                                              ("dpo", "audit"), ("service", "scan")])
def test_other_actions_need_no_purpose(role: str, action: str) -> None:
    assert _allowed(_role(role), action)[1]["rule"] == f"role:{role}"


def test_a_role_for_every_purpose_need_not_state_one() -> None:
    grant, _ = _allowed(_role("admin"), "read")
    assert grant.role is REG.roles["admin"]


def test_a_role_acts_only_for_its_own_purposes() -> None:
    res = Resource(purpose="billing")
    decision = _denied(_role("support"), "read", res, AccessDenied)
    assert decision["rule"] == "role:support:purpose"
    assert _allowed(_role("admin"), "read", res)[1]["rule"] == "role:admin"


def test_an_unknown_purpose_is_bad_input_and_leaves_the_default_denial() -> None:
    for actor in (_role("admin"), ME, system_actor("retention")):
        res = Resource(purpose="marketing", subject_id="subject-1")
        assert _denied(actor, "read", res, UnknownPurpose)["rule"] == "default-deny"


# -- purpose binding (compatible_with) ----------------------------------------------------


@pytest.mark.parametrize(
    ("purpose", "collected_for"),
    [
        ("service", ()),  # nothing known about the data: nothing to bind to
        ("service", ("service",)),
        ("safety", ("service",)),  # safety declares service compatible
        ("safety", ("model_training", "service")),  # one compatible original suffices
        ("safety", ("analytics",)),
    ],
)
def test_a_purpose_declared_compatible_is_allowed(
    purpose: str, collected_for: Sequence[str]
) -> None:
    res = Resource(purpose=purpose, collected_for=collected_for)
    assert _allowed(_role("service"), "read", res)[1]["rule"] == "role:service"


@pytest.mark.parametrize(
    ("purpose", "collected_for"),
    [
        ("analytics", ("safety",)),  # declared the other way round only
        ("service", ("safety",)),
        ("safety", ("model_training",)),  # consent data serves its consent only
        ("analytics", ("model_training", "billing")),
    ],
)
def test_a_purpose_not_declared_compatible_is_refused(
    purpose: str, collected_for: Sequence[str]
) -> None:
    res = Resource(purpose=purpose, collected_for=collected_for)
    decision = _denied(_role("service"), "read", res, PurposeNotAllowed)
    assert decision["rule"] == "purpose-binding"


# -- the grant ----------------------------------------------------------------------------


def test_a_role_grant_carries_the_role() -> None:
    grant, _ = _allowed(_role("support"), "read", Resource(purpose="service"))
    assert grant == Grant(rule="role:support", role_name="support", role=REG.roles["support"])
    assert grant.may_see("contact.email")
    assert not grant.may_see("health.data")
    assert grant.mask_style("contact.email") == "email"
    assert grant.mask_style("identity.name") == "partial"
    assert grant.mask_style("content.metadata") == "none"


def test_a_grant_without_a_role_sees_everything_unmasked() -> None:
    grant = Grant(rule="subject:self")
    assert grant.may_see("health.data")
    assert grant.mask_style("health.data") == "none"


def test_a_star_masking_applies_to_categories_without_their_own() -> None:
    role = Role(description="d", actions=["read"], purposes=["*"], categories=["*"],
                masking={"*": "hash", "contact.email": "email"})
    grant = Grant(rule="role:x", role_name="x", role=role)
    assert grant.may_see("anything.at_all")
    assert grant.mask_style("contact.email") == "email"
    assert grant.mask_style("identity.name") == "hash"
