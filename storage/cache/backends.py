"""Where cached text lives: this process's memory, or a Redis server shared by every process.

Both hold JSON text under string keys with a time to live, and one generation counter per scope
(a tenant of a database): keys carry the generation, so bumping it retires every older entry at once.
Driver errors stop here: a backend raises CacheUnavailable, never a redis exception.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from domain.errors import CacheUnavailable, ValidationError
from storage.cache.codec import Malformed

DEFAULT_MEMORY_TTL = 5.0  # seconds: also how long another process's write may go unseen (memory backend)
DEFAULT_REDIS_TTL = 60.0  # seconds: a safety net only (crash between commit and bump, restore of a file)
DEFAULT_MEMORY_SIZE = 10_000
MAX_TTL = 86_400.0


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()  # not in the cache (None is a value: "no such row")
REDIS_TIMEOUT = 1.0  # seconds: a hung Redis costs a read this long once, then the read goes to the store


class Codec(Protocol):
    def dumps(self, value: Any) -> str: ...

    def loads(self, text: str) -> Any:
        """Raises: Malformed."""


class Cache(Protocol):
    name: str  # for people: "memory" or the Redis URL without its password
    ttl: float  # how long an entry lives, in seconds
    shared: bool  # True when other processes see this cache's generations (Redis)

    def generation(self, scope: str) -> int:
        """The scope's current generation. Raises: CacheUnavailable."""

    def bump(self, scope: str) -> int:
        """Retire every entry of the scope; returns the new generation. Raises: CacheUnavailable."""

    def scopes(self, prefix: str) -> list[str]:
        """Every generation key that starts with `prefix` (every tenant of a database). Raises: CacheUnavailable."""

    def lookup(self, scope: str, prefix: str, suffix: str, codec: Codec) -> tuple[int, Any]:
        """The scope's generation and, in the same step, the value at `{prefix}{generation}:{suffix}`
        (MISSING if absent or unreadable). Raises: CacheUnavailable."""

    def get(self, key: str, codec: Codec) -> Any:
        """The value, or MISSING. Raises: CacheUnavailable."""

    def set_if_current(self, scope: str, generation: int, key: str, value: Any, codec: Codec, ttl: float) -> bool:
        """Store the value only if the scope is still at `generation` (checked and stored in one step):
        a row read while a writer bumped must not land under the generation it was read in.
        Raises: CacheUnavailable."""

    def add_counts(self, key: str, counts: dict[str, int]) -> None:
        """Add to counters other processes can read (a no-op where nothing is shared)."""

    def counts(self, key: str) -> dict[str, int]:
        """The shared counters ({} where nothing is shared). Raises: CacheUnavailable."""

    def close(self) -> None: ...


class MemoryCache:
    """An LRU dict in this process. It holds the immutable values themselves (frozen dataclasses, tuples):
    nothing leaves the process, so nothing is serialised. Nothing is shared either: another process's
    write is seen once the entry's time to live has passed."""

    shared = False

    def __init__(self, ttl: float = DEFAULT_MEMORY_TTL, size: int = DEFAULT_MEMORY_SIZE):
        self.name = "memory"
        self.ttl = ttl
        self.size = size
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._generations: dict[str, int] = {}

    def generation(self, scope: str) -> int:
        return self._generations.get(scope, 0)

    def bump(self, scope: str) -> int:
        with self._lock:
            new = self._generations.get(scope, 0) + 1
            self._generations[scope] = new
            return new

    def scopes(self, prefix: str) -> list[str]:
        with self._lock:
            return [scope for scope in self._generations if scope.startswith(prefix)]

    def lookup(self, scope: str, prefix: str, suffix: str, codec: Codec) -> tuple[int, Any]:
        generation = self._generations.get(scope, 0)
        return generation, self.get(f"{prefix}{generation}:{suffix}", codec)

    def get(self, key: str, codec: Codec) -> Any:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return MISSING
            if entry[0] <= time.monotonic():
                del self._entries[key]
                return MISSING
            self._entries.move_to_end(key)
            return entry[1]

    def set_if_current(self, scope: str, generation: int, key: str, value: Any, codec: Codec, ttl: float) -> bool:
        with self._lock:
            if self._generations.get(scope, 0) != generation:
                return False
            self._entries[key] = (time.monotonic() + ttl, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
            return True

    def add_counts(self, key: str, counts: dict[str, int]) -> None:
        pass

    def counts(self, key: str) -> dict[str, int]:
        return {}

    def close(self) -> None:
        with self._lock:
            self._entries.clear()


# A missing generation starts from the clock (microseconds), never from 0: if Redis lost the key
# (restart, eviction, expiry) while entries of old generations survived, a restarted count could land
# on one. Generation keys live GENERATION_TTL after their last bump (far longer than any entry), so a
# database no longer used leaves nothing behind for good.
GENERATION_TTL = 7 * 86_400
_GENERATION = """
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2])
  v = redis.call('GET', KEYS[1])
end
return v
"""
_BUMP = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SET', KEYS[1], ARGV[1])
end
local v = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return v
"""
_LOOKUP = """
local g = redis.call('GET', KEYS[1])
if not g then
  redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[4])
  g = redis.call('GET', KEYS[1])
end
return {g, redis.call('GET', ARGV[2] .. g .. ARGV[3])}
"""
_SET_IF_CURRENT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
"""


class RedisCache:
    """Entries and generations in Redis: every process using the same server and database sees a
    bump as soon as INCR returns."""

    shared = True

    def __init__(self, url: str, ttl: float = DEFAULT_REDIS_TTL):
        import redis

        self.name = _without_password(url)
        self.ttl = ttl
        self._errors = (redis.RedisError, OSError)
        try:
            self._client = redis.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT,
                                                socket_connect_timeout=REDIS_TIMEOUT, decode_responses=True)
            self._client.ping()
            self._generation = self._client.register_script(_GENERATION)
            self._bump = self._client.register_script(_BUMP)
            self._set_if_current = self._client.register_script(_SET_IF_CURRENT)
            self._lookup = self._client.register_script(_LOOKUP)
        except (redis.RedisError, OSError, ValueError) as e:
            raise CacheUnavailable(
                f"cannot reach the cache at {self.name}: {e}; start Redis, or run without --cache", field="cache"
            ) from e

    def _call(self, what: str, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except self._errors as e:
            raise CacheUnavailable(f"cache {self.name}: {what} failed: {e}", field="cache") from e

    def generation(self, scope: str) -> int:
        return int(self._call("reading the generation", self._generation, keys=[scope], args=[_seed(), GENERATION_TTL]))

    def bump(self, scope: str) -> int:
        return int(self._call("bumping the generation", self._bump, keys=[scope], args=[_seed(), GENERATION_TTL]))

    def scopes(self, prefix: str) -> list[str]:
        # prefixes are `sb:<hex>:` (no glob characters); tenant names in keys are %-quoted, so `*` is literal
        return sorted(self._call("listing generations", lambda: list(self._client.scan_iter(match=prefix + "*"))))

    def lookup(self, scope: str, prefix: str, suffix: str, codec: Codec) -> tuple[int, Any]:
        generation, text = self._call("a read", self._lookup, keys=[scope],
                                      args=[_seed(), prefix, ":" + suffix, GENERATION_TTL])
        return int(generation), _decoded(codec, text)

    def get(self, key: str, codec: Codec) -> Any:
        return _decoded(codec, self._call("a read", self._client.get, key))

    def set_if_current(self, scope: str, generation: int, key: str, value: Any, codec: Codec, ttl: float) -> bool:
        done = self._call("a write", self._set_if_current, keys=[scope, key],
                          args=[str(generation), codec.dumps(value), max(1, int(ttl * 1000))])
        return bool(done)

    def add_counts(self, key: str, counts: dict[str, int]) -> None:
        def add() -> None:
            pipe = self._client.pipeline(transaction=False)
            for name, n in counts.items():
                if n:
                    pipe.hincrby(key, name, n)
            pipe.execute()

        self._call("adding counters", add)

    def counts(self, key: str) -> dict[str, int]:
        raw = self._call("reading counters", self._client.hgetall, key)
        return {k: int(v) for k, v in raw.items() if v.lstrip("-").isdigit()}

    def close(self) -> None:
        try:
            self._client.close()
        except self._errors:
            pass


def _decoded(codec: Codec, text: str | None) -> Any:
    """JSON text back into domain rows, checked field by field; anything else is a miss."""
    if text is None:
        return MISSING
    try:
        return codec.loads(text)
    except Malformed:
        return MISSING


def _seed() -> int:
    return time.time_ns() // 1000


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    if parts.username:
        host = f"{parts.username}@{host}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


# -- specs: what --cache and STOCKBANK_CACHE accept -------------------------------------------

OFF = ("", "off", "none", "no")


def open_cache(spec: str) -> Cache | None:
    """`memory`, `memory://?ttl=5&size=10000`, `redis://127.0.0.1:6379/0?ttl=60`, or `off` (None).

    Raises: ValidationError (a bad spec), CacheUnavailable (Redis does not answer).
    """
    if not isinstance(spec, str):
        raise ValidationError("cache: give memory, redis://host:port/db or off", field="cache")
    text = spec.strip()
    if text.lower() in OFF:
        return None
    if text.lower() == "memory":
        return MemoryCache()
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in ("memory", "redis", "rediss"):
        raise ValidationError(f"cache {spec!r}: use memory, redis://host:port/db or off", field="cache")
    options: dict[str, float] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key == "ttl" or (key == "size" and scheme == "memory"):
            options[key] = _number(spec, key, value)
        else:
            raise ValidationError(f"cache {spec!r}: unknown option {key}={value!r}", field="cache")
    ttl = options.get("ttl")
    if ttl is not None and not 0 < ttl <= MAX_TTL:
        raise ValidationError(f"cache {spec!r}: ttl must be between 0 and {MAX_TTL:.0f} seconds", field="cache")
    if scheme == "memory":
        if parts.netloc or parts.path.strip("/"):
            raise ValidationError(f"cache {spec!r}: the memory cache takes only ?ttl= and ?size=", field="cache")
        size = options.get("size", DEFAULT_MEMORY_SIZE)
        if size < 1 or size != int(size):
            raise ValidationError(f"cache {spec!r}: size must be a whole number of entries", field="cache")
        return MemoryCache(ttl or DEFAULT_MEMORY_TTL, int(size))
    plain = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode([]), parts.fragment))
    return RedisCache(plain, ttl or DEFAULT_REDIS_TTL)


def _number(spec: str, key: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if number != number or number in (float("inf"), float("-inf")):
        raise ValidationError(f"cache {spec!r}: {key}={value!r} is not a number", field="cache")
    return number
