"""The one access decision: may this actor take this action on this resource?

Every public core function calls :func:`authorise` before it does anything else, inside the
operation whose audit entry records the decision, so an allowed and a denied attempt both leave
an entry naming the rule that decided. Adapters (``server``, ``web``, ``cli``) decide nothing:
they name the caller and pass the request through.

Deny is the default. Three kinds of actor exist:

- a **role** from the register's ``roles`` section: the action must be in the role's
  ``actions``, the purpose in its ``purposes``; a purpose-limited role must state a purpose for
  the actions that touch personal data;
- a **data subject** (a subject token or privacy-center session) acts on their own data only:
  a fixed, small set of actions, and never on another subject;
- a **named internal job** (:func:`confida.operation.system_actor`): retention, erasure
  resumption and the like. Any other actor without a role is refused.

Purpose limitation (Art. 5(1)(b), 6(4)) is part of the same decision: data collected for one
purpose is processed for another only where the register declares the new purpose
``compatible_with`` the original one. Whether processing is lawful *now* for this subject
(consent in force, no objection, no restriction, within retention) depends on stored state and
is checked by the domain module in the same operation, after this decision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from confida.errors import AccessDenied, PurposeNotAllowed, PurposeRequired
from confida.operation import SYSTEM_JOBS, Actor, Operation
from confida.register.models import Register, Role

__all__ = ["SUBJECT_ACTIONS", "Grant", "Resource", "authorise", "compatible"]

#: What a data subject may do to their own data through a subject token or session.
SUBJECT_ACTIONS: frozenset[str] = frozenset({"list", "read", "consent", "rights", "requests"})

#: Actions on personal data for which a purpose-limited role must say why.
PURPOSE_ACTIONS: frozenset[str] = frozenset(
    {"collect", "read", "list", "update", "export", "detokenize"}
)


@dataclass(frozen=True)
class Resource:
    """What an action is taken on, as far as the decision needs to know.

    ``purpose`` is why the actor acts; ``collected_for`` the purposes the data was collected
    for (records, tokens); ``subject_id`` whose data it is, when known before the decision (a
    subject actor's own id, checked against it).
    """

    purpose: str | None = None
    collected_for: Sequence[str] = ()
    subject_id: str | None = None


ANYTHING = Resource()


@dataclass(frozen=True)
class Grant:
    """An allowed decision, and what of a record the actor may see.

    ``role`` is None for named internal jobs and for a data subject reading their own data:
    both see every field (the subject is entitled to it, Art. 15).
    """

    rule: str
    role_name: str | None = None
    role: Role | None = None

    def may_see(self, category: str) -> bool:
        if self.role is None:
            return True
        return "*" in self.role.categories or category in self.role.categories

    def mask_style(self, category: str) -> str:
        if self.role is None:
            return "none"
        m = self.role.masking
        return m.get(category) or m.get("*") or "none"


def compatible(register: Register, purpose: str, collected_for: Sequence[str]) -> bool:
    """Is processing for ``purpose`` within, or declared compatible with, the original ones?"""
    if not collected_for or purpose in collected_for:
        return True
    declared = register.purpose(purpose).compatible_with
    return any(orig in declared for orig in collected_for)


def authorise(
    actor: Actor,
    action: str,
    resource: Resource = ANYTHING,
    *,
    register: Register,
    op: Operation,
) -> Grant:
    """Allow, or raise; either way the decision is written into ``op``'s audit entry.

    Raises :class:`AccessDenied` (or :class:`PurposeNotAllowed` for a purpose the data was not
    collected for, :class:`PurposeRequired` when a limited role does not say why). An unknown
    purpose is bad input (``UnknownPurpose``), not a denial.
    """
    op.decision = {"action": action, "decision": "denied", "rule": "default-deny"}
    grant = _decide(actor, action, resource, register, op)
    op.decision = {"action": action, "decision": "allowed", "rule": grant.rule}
    return grant


def _deny(op: Operation, rule: str, exc: Exception) -> Exception:
    assert op.decision is not None
    op.decision["rule"] = rule
    return exc


def _decide(
    actor: Actor, action: str, res: Resource, register: Register, op: Operation
) -> Grant:
    purpose = res.purpose
    if purpose is not None:
        register.purpose(purpose)  # an unknown purpose is bad input, not a denial
    if actor.is_system:
        job = actor.id.removeprefix("system:")
        if not actor.id.startswith("system:") or job not in SYSTEM_JOBS:
            raise _deny(op, "unnamed-system", AccessDenied("an unnamed internal actor"))
        return Grant(rule=f"system:{job}")
    if actor.is_subject:
        return _decide_subject(actor, action, res, register, op)
    if actor.role is None:
        raise _deny(op, "no-role", AccessDenied("the caller has no role"))
    role = register.roles.get(actor.role)
    if role is None:
        raise _deny(
            op, "unknown-role",
            AccessDenied(f"role {actor.role!r} is not declared in the register"),
        )
    if not role.may(action):
        raise _deny(
            op, f"role:{actor.role}:action", AccessDenied(f"role {actor.role!r} may not {action}")
        )
    if purpose is None:
        if action in PURPOSE_ACTIONS and "*" not in role.purposes:
            raise _deny(
                op, f"role:{actor.role}:purpose",
                PurposeRequired("state the purpose of this access"),
            )
    elif "*" not in role.purposes and purpose not in role.purposes:
        raise _deny(
            op, f"role:{actor.role}:purpose",
            AccessDenied(f"role {actor.role!r} may not act for purpose {purpose!r}"),
        )
    if purpose is not None and not compatible(register, purpose, res.collected_for):
        raise _deny(
            op, "purpose-binding",
            PurposeNotAllowed(
                f"the data was collected for {', '.join(res.collected_for)}, and the register "
                f"does not declare {purpose!r} compatible with it"
            ),
        )
    return Grant(rule=f"role:{actor.role}", role_name=actor.role, role=role)


def _decide_subject(
    actor: Actor, action: str, res: Resource, register: Register, op: Operation
) -> Grant:
    if action not in SUBJECT_ACTIONS:
        raise _deny(op, "subject:action", AccessDenied(f"a data subject may not {action}"))
    if res.subject_id is None or res.subject_id != actor.subject_id:
        raise _deny(
            op, "subject:other",
            AccessDenied("a data subject acts on their own data only"),
        )
    if res.purpose is not None and not compatible(register, res.purpose, res.collected_for):
        raise _deny(
            op, "purpose-binding",
            PurposeNotAllowed("the data was not collected for this purpose"),
        )
    return Grant(rule="subject:self")
