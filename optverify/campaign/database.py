"""Example databases from a URL: where failures are stored and replayed first.

``redis://HOST[:PORT][/N]`` is a shared :class:`hypothesis.extra.redis.RedisExampleDatabase`
(package ``redis``; server ``redis-server``); anything else is a directory
(:class:`hypothesis.database.DirectoryBasedExampleDatabase`). :func:`open_database` gives

* fuzz workers (``read_only_shared=False``) the shared database itself: a failure any worker
  finds is saved there at once, before it is shrunk;
* a developer's local ``check --db URL`` (``read_only_shared=True``) a
  :class:`~hypothesis.database.MultiplexedDatabase` of the local directory database and a
  :class:`~hypothesis.database.ReadOnlyDatabase` view of the shared one: stored failures of
  both are replayed first, local runs add to (and prune) only the local one.

A Redis server that does not answer is a :class:`DatabaseError` (a ``CheckError``: one line,
exit 2) raised before any example runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from optverify.check import CheckError

if TYPE_CHECKING:
    from hypothesis.database import ExampleDatabase

__all__ = [
    "DEFAULT_LOCAL_DIR",
    "DatabaseError",
    "RedisURL",
    "open_database",
    "parse_redis_url",
    "redact",
]

#: the local directory database of ``check --db`` (Hypothesis's own default location)
DEFAULT_LOCAL_DIR = Path(".hypothesis") / "examples"

#: Redis keys of stored examples start with this (``redis-cli --scan --pattern 'optverify:*'``)
KEY_PREFIX = b"optverify:examples:"

#: seconds to wait for a Redis server to accept a connection before giving up
CONNECT_TIMEOUT = 3.0


class DatabaseError(CheckError):
    """A malformed database URL, a missing ``redis`` package or a server that does not answer."""


@dataclass(frozen=True)
class RedisURL:
    """A parsed ``redis://[:PASSWORD@]HOST[:PORT][/N]``."""

    host: str
    port: int
    db: int
    password: str | None = None

    def __str__(self) -> str:
        return f"redis://{self.host}:{self.port}/{self.db}"


def redact(url: str) -> str:
    """``url`` without a password (for messages)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://***@{host}{port}{parts.path}"


def parse_redis_url(url: str) -> RedisURL:
    """``redis://HOST[:PORT][/N]`` -> its parts (port 6379 and database 0 by default)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise DatabaseError(f"--db {redact(url)}: {error}") from None
    if parts.scheme != "redis":
        raise DatabaseError(f"--db {redact(url)}: expected redis://HOST[:PORT][/N]")
    if not parts.hostname:
        raise DatabaseError(f"--db {redact(url)}: no host; expected redis://HOST[:PORT][/N]")
    path = parts.path.strip("/")
    if path and not path.isdigit():
        raise DatabaseError(
            f"--db {redact(url)}: the database number must be an integer, not {path!r}"
        )
    if parts.query or parts.fragment:
        raise DatabaseError(f"--db {redact(url)}: no query or fragment expected")
    return RedisURL(parts.hostname, port or 6379, int(path or 0), parts.password)


def _redis_database(url: str) -> ExampleDatabase:
    where = parse_redis_url(url)
    try:
        import redis
        from hypothesis.extra.redis import RedisExampleDatabase
    except ImportError:
        raise DatabaseError(
            f"--db {redact(url)}: needs the redis package (pip install 'optverify[distributed]')"
        ) from None
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    def connect(retry: Retry | None = None) -> redis.Redis:
        extra = {} if retry is None else {"retry": retry}
        return redis.Redis(
            host=where.host,
            port=where.port,
            db=where.db,
            password=where.password,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=30.0,
            health_check_interval=30,
            **extra,  # type: ignore[arg-type]
        )

    # the probe: one try, no backoff, so that a refused connection is an answer at once
    # (redis-py's default retries took ~3 s to say that nothing listens); the campaign's own
    # client keeps those retries for a dropped link
    probe = connect(Retry(NoBackoff(), 0))
    try:
        probe.ping()
    except redis.exceptions.AuthenticationError as error:
        raise DatabaseError(f"--db {where}: the server refused the password ({error})") from None
    except redis.exceptions.RedisError as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DatabaseError(f"--db {where}: the Redis server does not answer ({reason})") from None
    finally:
        probe.close()
    client = connect()
    return RedisExampleDatabase(client, key_prefix=KEY_PREFIX)


def _directory_database(path: str | os.PathLike[str]) -> ExampleDatabase:
    from hypothesis.database import DirectoryBasedExampleDatabase

    where = Path(path).expanduser()
    if where.exists() and not where.is_dir():
        raise DatabaseError(f"--db {path}: not a directory")
    return DirectoryBasedExampleDatabase(str(where))


def open_database(
    url: str,
    *,
    read_only_shared: bool,
    local_dir: str | os.PathLike[str] = DEFAULT_LOCAL_DIR,
) -> ExampleDatabase:
    """The example database named by ``url`` (checked to answer before this returns).

    ``redis://HOST[:PORT][/N]``: with ``read_only_shared`` (a local ``check --db``) a
    ``MultiplexedDatabase`` of the directory database ``local_dir`` and a read-only view of
    the shared Redis one; without it (fuzz workers) the Redis database itself, writable.
    Any other ``url`` is a directory database (shared only by processes on one machine;
    ``read_only_shared`` makes it read-only too).
    Raises :class:`DatabaseError` (one line) for a malformed URL, a missing ``redis`` package
    or a server that does not answer within :data:`CONNECT_TIMEOUT` seconds.
    """
    from hypothesis.database import MultiplexedDatabase, ReadOnlyDatabase

    text = url.strip()
    if not text:
        raise DatabaseError("--db: empty; expected redis://HOST[:PORT][/N] or a directory")
    shared = _redis_database(text) if "://" in text else _directory_database(text)
    if not read_only_shared:
        return shared
    return MultiplexedDatabase(_directory_database(local_dir), ReadOnlyDatabase(shared))
