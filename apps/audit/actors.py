"""Who did it: a person, an API key, the system, or an unauthenticated claimant.

``Actor`` is a plain value so that the audit app imports no domain app: callers describe the
actor (``Actor.user(request.user)``, ``Actor.api_key(key.key_id, key.name)``) and the event
stores kind, id and label as text. There is deliberately no foreign key to users or keys: an
append-only table cannot be updated by ``ON DELETE SET NULL``, and the record must outlive them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from apps.audit.details import clean_text

# Column widths of AuditEvent; values are cut to fit *before* hashing, so what is hashed is
# exactly what is stored.
ACTOR_ID_MAX = 64
ACTOR_LABEL_MAX = 150


def _fit(value: str, limit: int) -> str:
    return clean_text(value)[:limit]


@dataclass(frozen=True)
class Actor:
    """The party responsible for an audited action.

    kind is one of ``user``, ``api_key``, ``system`` or ``anonymous``; id is the user's primary
    key, the key's public id or the component name; label is a readable name kept as it was at
    the time (a later rename does not rewrite history).
    """

    kind: str
    id: str
    label: str

    USER: ClassVar[str] = "user"
    API_KEY: ClassVar[str] = "api_key"
    SYSTEM: ClassVar[str] = "system"
    ANONYMOUS: ClassVar[str] = "anonymous"
    KINDS: ClassVar[frozenset[str]] = frozenset({USER, API_KEY, SYSTEM, ANONYMOUS})

    def __post_init__(self) -> None:
        if self.kind not in self.KINDS:
            raise ValueError(f"unknown actor kind {self.kind!r}")
        object.__setattr__(self, "id", _fit(str(self.id), ACTOR_ID_MAX))
        object.__setattr__(self, "label", _fit(str(self.label), ACTOR_LABEL_MAX))

    @classmethod
    def user(cls, user: Any) -> Actor:
        """A signed-in person (any user model instance with a primary key)."""
        if getattr(user, "pk", None) is None:
            raise ValueError("Actor.user() needs a saved user; use Actor.anonymous() otherwise")
        return cls(kind=cls.USER, id=str(user.pk), label=user.get_username())

    @classmethod
    def api_key(cls, key_id: str, name: str = "") -> Actor:
        """An API key, by its public key id (never the secret) and optional display name."""
        if not key_id:
            raise ValueError("Actor.api_key() needs the key's public id")
        return cls(kind=cls.API_KEY, id=key_id, label=name or key_id)

    @classmethod
    def system(cls, component: str) -> Actor:
        """Breakwater itself, e.g. ``risk.limits`` for an automatic breaker trip."""
        if not component:
            raise ValueError("Actor.system() needs a component name")
        return cls(kind=cls.SYSTEM, id=component, label=component)

    @classmethod
    def anonymous(cls, claimed_username: str = "") -> Actor:
        """Someone not (yet) authenticated, e.g. a failed login for a claimed username.

        Only the claimed name is kept; a password or code must never be passed here.
        """
        return cls(kind=cls.ANONYMOUS, id="", label=claimed_username)


def shell_operator_name() -> str:
    """The operating-system user running a management command (never empty): break-glass
    commands are audited as ``Actor.system(f"shell:{name}")``."""
    import getpass
    import os

    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return os.environ.get("USER") or f"uid{os.getuid()}"
