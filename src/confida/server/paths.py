"""The ``{subject_id:subject}`` path convertor: a host's subject id may hold any character.

Subject ids are the host application's, not ours: ``tenant/77``, ``100%``, a name with a line
break. Starlette's ``path`` convertor would take the slashes but stops at a newline (its ``.``
does not match one), so an id collected in a body could then never be listed or erased by path.
This convertor matches every character; clients percent-encode the id, and the server decodes
it once. The route's fixed suffix (``/records``, ``/erasure``...) still decides which route is
meant, so ``x/records`` is a valid id for ``/v1/subjects/x/records/records``.
"""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor


class SubjectIdConvertor(Convertor[str]):
    regex = "(?s:.+)"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("subject", SubjectIdConvertor())
