"""Team accounts for `coach serve` when it is shared: users, roles and passwords.

Roles: an **agent** sees and appeals their own calls (those whose agent id is theirs); a
**reviewer** sees every call, reviews findings and decides appeals; an **admin** does what a
reviewer does and manages the users.

Passwords are stored as scrypt hashes (the standard library's ``hashlib.scrypt``, with the
parameters OWASP's Password Storage Cheat Sheet gives as the minimum: N=2^17, r=8, p=1, a
16-byte random salt), written ``scrypt$N$r$p$salt$hash`` so that stronger parameters can come
later without invalidating the stored ones.  No new dependency: scrypt is memory-hard, and
a few logins a day on a team server can afford ~0.3 s each.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import secrets
import unicodedata
from dataclasses import dataclass

import sqlalchemy as sa

from coach.errors import CoachError
from coach.qa.workspace import Action, Workspace, now, record, users

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 17, 8, 1
_SALT_BYTES, _KEY_BYTES = 16, 32
MIN_PASSWORD_CHARS = 10  # NIST SP 800-63B asks for 8 at least; these accounts open customers' words
MAX_PASSWORD_CHARS = 256  # scrypt of a megabyte would be a way to keep the server busy
MAX_NAME_CHARS = 64


class Role(str, enum.Enum):
    AGENT = "agent"
    REVIEWER = "reviewer"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        return {Role.AGENT: "坐席", Role.REVIEWER: "质检员", Role.ADMIN: "管理员"}[self]


class AccountError(CoachError):
    """A user name, role or password that cannot be used; ``zh`` says it on the web pages."""

    def __init__(self, message: str, zh: str):
        super().__init__(message)
        self.zh = zh


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    agent_id: str | None = None  # an agent's own calls are those with this agent id
    disabled: bool = False

    @property
    def can_review(self) -> bool:
        return self.role in (Role.REVIEWER, Role.ADMIN)

    @property
    def can_manage(self) -> bool:
        return self.role is Role.ADMIN

    def sees(self, agent_id: str | None) -> bool:
        """Whether this user may open a call of ``agent_id``."""
        return self.role is not Role.AGENT or (agent_id is not None and agent_id == self.agent_id)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(_SALT_BYTES)
    key = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(key)
        return hmac.compare_digest(_scrypt(password, base64.b64decode(salt), int(n), int(r), int(p)), expected)
    except (ValueError, TypeError):
        return False  # a damaged hash lets nobody in


def add_user(ws: Workspace, name: str, role: Role, password: str, *, agent_id: str | None = None,
             actor: str) -> User:
    name = check_name(name)
    check_password(name, password)
    agent_id = (agent_id or name) if role is Role.AGENT else None
    with ws.writing() as conn:
        if conn.execute(sa.select(users.c.name).where(users.c.name == name)).first():
            raise AccountError(f"user {name!r} already exists: pick another name or change it with "
                               "coach users passwd/role", zh=f"用户「{name}」已存在")
        conn.execute(sa.insert(users).values(name=name, role=role.value, agent_id=agent_id,
                                             password_hash=hash_password(password), created_at=now(),
                                             disabled=False))
        record(conn, actor, Action.USER_ADDED, target=name, what=_describe(role, agent_id))
    return User(name, role, agent_id)


def change_user(ws: Workspace, name: str, *, actor: str, role: Role | None = None, agent_id: str | None = None,
                disabled: bool | None = None) -> User:
    """Change a user's role (and agent id) or switch the account off and on."""
    with ws.writing() as conn:
        user = _user(conn, name)
        new_role = role or user.role
        new_agent = (agent_id or user.agent_id or name) if new_role is Role.AGENT else None
        new_disabled = user.disabled if disabled is None else disabled
        conn.execute(sa.update(users).where(users.c.name == name)
                     .values(role=new_role.value, agent_id=new_agent, disabled=new_disabled))
        what = _describe(new_role, new_agent) + ("，已停用" if new_disabled else "")
        record(conn, actor, Action.USER_CHANGED, target=name, what=what)
    return User(name, new_role, new_agent, new_disabled)


def set_password(ws: Workspace, name: str, password: str, *, actor: str) -> None:
    check_password(name, password)
    with ws.writing() as conn:
        _user(conn, name)
        conn.execute(sa.update(users).where(users.c.name == name).values(password_hash=hash_password(password)))
        record(conn, actor, Action.USER_PASSWORD, target=name)


def list_users(ws: Workspace) -> list[User]:
    if not ws.has_tables:
        return []
    with ws.reading() as conn:
        return [_row_user(row) for row in conn.execute(sa.select(users).order_by(users.c.name))]


def find_user(ws: Workspace, name: str) -> User | None:
    if not ws.has_tables:
        return None
    with ws.reading() as conn:
        row = conn.execute(sa.select(users).where(users.c.name == name)).first()
    return _row_user(row) if row else None


def has_active_users(ws: Workspace) -> bool:
    return any(not u.disabled for u in list_users(ws))


def authenticate(ws: Workspace, name: str, password: str) -> User | None:
    """The user if ``name`` and ``password`` match an active account, else None (same cost either way)."""
    row = None
    if ws.has_tables and len(password) <= MAX_PASSWORD_CHARS:
        with ws.reading() as conn:
            row = conn.execute(sa.select(users).where(users.c.name == name)).first()
    ok = verify_password(password[:MAX_PASSWORD_CHARS], row.password_hash if row else _DUMMY_HASH)
    if row is None or not ok or row.disabled:
        return None
    return _row_user(row)


def check_name(name: str) -> str:
    name = unicodedata.normalize("NFC", name.strip())
    if not name or len(name) > MAX_NAME_CHARS or any(not ch.isprintable() or ch.isspace() or ch in "/\\"
                                                         for ch in name):
        raise AccountError(f"user name {name!r} is not usable: give 1–{MAX_NAME_CHARS} printable characters "
                           "without spaces or slashes", zh=f"用户名需为 1–{MAX_NAME_CHARS} 个字符，不含空格和斜杠")
    return name


def check_password(name: str, password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise AccountError(f"the password is too short ({len(password)} characters): use "
                           f"{MIN_PASSWORD_CHARS} or more", zh=f"密码至少 {MIN_PASSWORD_CHARS} 个字符")
    if len(password) > MAX_PASSWORD_CHARS:
        raise AccountError(f"the password is too long: use at most {MAX_PASSWORD_CHARS} characters",
                           zh=f"密码最多 {MAX_PASSWORD_CHARS} 个字符")
    if name.lower() in password.lower():
        raise AccountError("the password contains the user name: choose one that does not",
                           zh="密码不能包含用户名")


def _user(conn: sa.Connection, name: str) -> User:
    row = conn.execute(sa.select(users).where(users.c.name == name)).first()
    if row is None:
        raise AccountError(f"no user {name!r}: add it with coach users add", zh=f"没有用户「{name}」")
    return _row_user(row)


def _row_user(row: sa.Row) -> User:
    return User(row.name, Role(row.role), row.agent_id, bool(row.disabled))


def _describe(role: Role, agent_id: str | None) -> str:
    return f"角色：{role.label}" + (f"，坐席工号 {agent_id}" if agent_id else "")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    # maxmem above the 128·r·n bytes the parameters need (the default 32 MiB is too small for N=2^17).
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=256 * 1024 * 1024,
                          dklen=_KEY_BYTES)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# Checked when the name is unknown, so that a wrong name takes as long as a wrong password.
_DUMMY_HASH = f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(bytes(_SALT_BYTES))}${_b64(bytes(_KEY_BYTES))}"
