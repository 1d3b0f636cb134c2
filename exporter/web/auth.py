"""Basic auth: what a password check costs, and who waits for one.

bcrypt costs tens of milliseconds on purpose, so a client that sends many distinct wrong
passwords can ask for far more checks than two threads can run.  What bounds it here:

* Verdicts are remembered under a keyed digest of the user's hash, the user and the password
  (never the password itself).  A right password is remembered per user, apart from the wrong
  ones, so no number of wrong ones can evict it, and it stays valid across a ``SIGHUP`` as long
  as the user's hash is unchanged (the hash is part of the digest).  Wrong ones share a bounded
  LRU.
* Checks wait in a :class:`FairQueue`: bounded in all and per client address, taken round-robin
  between addresses, so one flooding address cannot starve Prometheus'.  A check that would not
  fit is refused at once (the client gets 503 with Retry-After); identical checks in flight
  are run once.
* A queued check holds what bcrypt needs (the hash, at most 72 bytes of password, a digest)
  and weak references to the futures of the clients waiting for it, never a connection or a
  request; a client that leaves cancels its future, and a check nobody waits for is dropped.

Known and unknown users cost the same: an unknown user's password is checked against a hash of
the same cost (a configured user's, picked by a keyed digest of the name, with a checksum no
password gives), in every branch, long passwords included.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import hmac
import itertools
import logging
import os
import weakref
from base64 import b64decode
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from functools import partial
from typing import Callable, Generic, Mapping, TypeVar

# bcrypt keys Blowfish with at most 72 bytes.  Go's golang.org/x/crypto/bcrypt (the
# exporter-toolkit's) ignores the bytes past them in CompareHashAndPassword (the key schedule
# reads 18 words of the key, cycling), so a longer password is checked on its first 72 bytes
# here too (python's bcrypt 5 raises ValueError instead; older ones truncate as Go does).
MAX_PASSWORD_BYTES = 72
WORKERS = 2  # bcrypt threads: both cores of a small host, never the event loop
QUEUED = 64  # checks waiting in all: the last one waits for 32 checks' time on two threads
PER_PEER = 4  # checks waiting per client address
REMEMBERED = 1024  # wrong credentials remembered (right ones: one per user, not evictable)

T = TypeVar("T")
log = logging.getLogger("exporter.web.auth")


class Busy(Exception):
    """No room for another password check; the client is told to retry (503)."""


def parse_basic(header: str | None) -> tuple[bytes, bytes] | None:
    """User and password of an ``Authorization: Basic`` header, as bytes (as Go's
    ``Request.BasicAuth``: any bytes, split at the first colon); None when it is not one."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        decoded = b64decode(token.strip(), validate=True)
    except ValueError:
        return None
    user, sep, password = decoded.partition(b":")
    return (user, password) if sep else None


def bcrypt_matches(password: bytes, hashed: bytes) -> bool:
    """The slow part, run in a worker thread."""
    import bcrypt

    try:
        return bool(bcrypt.checkpw(password[:MAX_PASSWORD_BYTES], hashed))
    except ValueError:  # bcrypt < 4 refuses NUL bytes (hashes are checked at load)
        return False


class BasicAuth:
    """The users of one web config file and the hash a name is checked against."""

    def __init__(self, users: Mapping[str, bytes]) -> None:
        if not users:
            raise ValueError("BasicAuth needs at least one user")
        self.users = dict(users)
        self._names = sorted(self.users)
        # Secret to clients (the hashes' salts are random) and stable while the file is.
        self._pick_key = hashlib.sha256(b"\n".join(self.users[name] for name in self._names)).digest()

    def target(self, user: bytes) -> tuple[bytes, str | None]:
        """The hash to check ``user``'s password against, and the user's name if it is known."""
        try:
            name = user.decode("utf-8")
        except UnicodeDecodeError:
            name = ""
        hashed = self.users.get(name)
        if hashed is not None:
            return hashed, name
        return self._dummy(user), None

    def _dummy(self, user: bytes) -> bytes:
        """For an unknown name: a configured user's salt and cost (the same work whichever costs
        the file mixes, and the same pick for the same name) with a checksum no password gives."""
        pick = int.from_bytes(hmac.new(self._pick_key, user, hashlib.sha256).digest()[:8], "big")
        model = self.users[self._names[pick % len(self._names)]]
        return model[:29] + b"." * 31


class FairQueue(Generic[T]):
    """Items by client address, taken round-robin; at most ``per_peer`` an address and
    ``limit`` in all.

    When it is full, an address with fewer items than the fullest one takes the newest item of
    the fullest (max-min fairness): one address, or many, cannot keep a new one out, and what
    has waited longest is never the one given up.
    """

    def __init__(self, limit: int, per_peer: int) -> None:
        self.limit = limit
        self.per_peer = per_peer
        self._peers: OrderedDict[str, deque[tuple[int, T]]] = OrderedDict()
        self._count = 0
        self._seq = itertools.count()

    def __len__(self) -> int:
        return self._count

    def push(self, peer: str, item: T) -> T | None:
        """Queue ``item``; returns the item it displaced, if any; :class:`Busy` if it does not fit."""
        mine = self._peers.get(peer)
        have = len(mine) if mine is not None else 0
        if have >= self.per_peer:
            raise Busy(f"{have} password checks of this address already waiting")
        evicted = None
        if self._count >= self.limit:
            fullest = max(self._peers.values(), key=lambda items: (len(items), items[-1][0]))
            if len(fullest) <= have:
                raise Busy(f"{self._count} password checks already waiting")
            evicted = fullest.pop()[1]
            self._count -= 1
            self._prune()
        self._peers.setdefault(peer, deque()).append((next(self._seq), item))
        self._count += 1
        return evicted

    def pop(self) -> T | None:
        """The next item, from the next address in turn."""
        if not self._peers:
            return None
        peer, items = next(iter(self._peers.items()))
        item = items.popleft()[1]
        self._count -= 1
        if items:
            self._peers.move_to_end(peer)
        else:
            del self._peers[peer]
        return item

    def remove(self, peer: str, item: T) -> bool:
        """Take ``item`` out (its client left); False if it is not queued (running, or done)."""
        items = self._peers.get(peer)
        if items is None:
            return False
        for entry in items:
            if entry[1] is item:
                items.remove(entry)
                self._count -= 1
                self._prune()
                return True
        return False

    def _prune(self) -> None:
        for peer in [p for p, items in self._peers.items() if not items]:
            del self._peers[peer]


@dataclass(eq=False)
class _Check:
    """One bcrypt check to run: only what it needs, and weak references to who waits for it."""

    digest: bytes
    hashed: bytes
    password: bytes
    user: str | None  # None for an unknown user: never a right password
    peer: str
    waiters: weakref.WeakSet[asyncio.Future[bool]] = field(default_factory=weakref.WeakSet)
    running: bool = False


class PasswordChecks:
    """Verdicts and the queue of bcrypt checks of one server; used from its event loop only."""

    def __init__(self, loop: asyncio.AbstractEventLoop, workers: int = WORKERS, queued: int = QUEUED,
                 per_peer: int = PER_PEER, remembered: int = REMEMBERED,
                 check: Callable[[bytes, bytes], bool] = bcrypt_matches) -> None:
        self.loop = loop
        self._workers = workers
        self._check = check
        self._key = os.urandom(32)
        self._good: dict[str, bytes] = {}  # user -> digest of the credentials accepted for them
        self._bad: OrderedDict[bytes, None] = OrderedDict()
        self._remembered = remembered
        self._checks: dict[bytes, _Check] = {}  # queued or running, by digest
        self.queue: FairQueue[_Check] = FairQueue(queued, per_peer)
        self.running = 0
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._auth: BasicAuth | None = None

    def check(self, auth: BasicAuth, header: str | None, peer: str) -> bool | asyncio.Future[bool]:
        """The verdict now (remembered, or no Basic credentials at all), or a future of it.

        Raises :class:`Busy` when the check does not fit in the queue; the future fails with
        it when a later client's check displaced this one.
        """
        credentials = parse_basic(header)
        if credentials is None:
            return False
        user, password = credentials
        password = password[:MAX_PASSWORD_BYTES]
        hashed, name = auth.target(user)
        digest = hmac.new(self._key, hashed + b"\n" + user + b":" + password, hashlib.sha256).digest()
        self._forget_removed_users(auth)
        if name is not None and self._good.get(name) == digest:
            return True
        if digest in self._bad:
            self._bad.move_to_end(digest)
            return False
        job = self._checks.get(digest)
        if job is None:
            job = _Check(digest, hashed, password, name, peer)
            displaced = self.queue.push(peer, job)  # Busy propagates: nothing was changed
            self._checks[digest] = job
            if displaced is not None:
                self._fail(displaced, "password check displaced by another address's")
        future: asyncio.Future[bool] = self.loop.create_future()
        job.waiters.add(future)
        future.add_done_callback(partial(self._waiter_done, job))
        self._run_next()
        return future

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    # -- inside -----------------------------------------------------------------------------

    def _forget_removed_users(self, auth: BasicAuth) -> None:
        """A reloaded file: keep right passwords of users still there (a changed hash no longer
        matches their digest anyway)."""
        if auth is not self._auth:
            self._auth = auth
            self._good = {user: digest for user, digest in self._good.items() if user in auth.users}

    def _waiter_done(self, job: _Check, future: asyncio.Future[bool]) -> None:
        """A client stopped waiting (answered, cancelled or gone): drop a check nobody waits for."""
        job.waiters.discard(future)
        if not job.waiters and not job.running and self._checks.get(job.digest) is job:
            self.queue.remove(job.peer, job)
            del self._checks[job.digest]

    def _fail(self, job: _Check, reason: str) -> None:
        """Tell whoever waits for ``job`` to come back later (503)."""
        if self._checks.get(job.digest) is job:
            del self._checks[job.digest]
        for future in list(job.waiters):
            if not future.done():
                future.set_exception(Busy(reason))

    def _executor(self) -> concurrent.futures.ThreadPoolExecutor:
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="bcrypt")
        return self._pool

    def _run_next(self) -> None:
        while self.running < self._workers:
            job = self.queue.pop()
            if job is None:
                return
            if not job.waiters:  # every client left (or dropped its future): nothing to run
                self._checks.pop(job.digest, None)
                continue
            job.running = True
            self.running += 1
            try:
                done = self.loop.run_in_executor(self._executor(), self._check, job.password, job.hashed)
            except RuntimeError:  # the pool was shut down: the server is stopping
                self.running -= 1
                self._fail(job, "stopping")
                return
            done.add_done_callback(partial(self._finished, job))

    def _finished(self, job: _Check, done: asyncio.Future[bool]) -> None:
        self.running -= 1
        self._run_next()
        if done.cancelled():
            self._fail(job, "stopping")
            return
        error = done.exception()
        if error is not None:  # not a verdict: nothing is remembered
            log.error("password check failed: %r", error)
            self._fail(job, "password check failed")
            return
        self._checks.pop(job.digest, None)
        ok = bool(done.result()) and job.user is not None
        if ok and job.user is not None:
            self._good[job.user] = job.digest
        else:
            self._bad[job.digest] = None
            while len(self._bad) > self._remembered:
                self._bad.popitem(last=False)
        for future in list(job.waiters):
            if not future.done():
                future.set_result(ok)
