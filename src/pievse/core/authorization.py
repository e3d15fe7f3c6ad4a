"""Who may charge when the CSMS is not asked: the Local Authorization List, the Authorization
Cache, and the offline and pre-authorisation decisions (OCPP 1.6 section 3.5, OCPP 2.0.1 C).

A card tapped at a charge point is normally shown to the CSMS, and the session starts on its
Accepted. Two local stores let the station decide without that round trip:

* the **Local Authorization List** is written by the CSMS (SendLocalList), carries a version
  number (GetLocalListVersion) and says for each id token Accepted, Blocked, Expired or Invalid,
  with an optional expiry and group. It is the CSMS's own word, so it takes priority over the
  cache, and its ids are never cached;
* the **Authorization Cache** is filled by the station itself from every authorization result
  the CSMS sends back (to an authorization request, or with a transaction's start or stop),
  valid or not. It is bounded: when full, entries that are no longer valid go first, then the
  least recently used valid ones. ClearCache empties it.

Neither store is believed past an entry's expiry: a card whose validity ran out reads
``Expired``, and in the cache the entry is changed to Expired, as the specification asks.

The decisions the station takes from them:

* offline (``LocalAuthorizeOffline``): a card the stores hold as valid starts at once; a card
  they hold as Blocked, Expired or Invalid is refused, whatever ``AllowOfflineTxForUnknownId``
  says; a card they do not know starts only if ``AllowOfflineTxForUnknownId`` is true;
* online with ``LocalPreAuthorize``: a card the stores hold as Accepted starts without waiting
  for the CSMS (which still learns of it when the transaction starts and may stop it by
  refusing the card then); any other card is shown to the CSMS as usual.

Id tokens are compared by value, without regard to case (OCPP's CiString). Pure: no I/O, time
passed in as epoch seconds; ``snapshot()``/``restore()`` hand the stores over in this model for
the store to keep across a power cut.
"""

from __future__ import annotations

import dataclasses
import enum
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "AuthorizationEntry",
    "AuthorizationResult",
    "AuthorizationRules",
    "AuthorizationSnapshot",
    "AuthorizationStatus",
    "ClearCacheStatus",
    "IdToken",
    "IdTokenType",
    "LocalAuthorization",
    "LocalListUpdate",
    "UpdateStatus",
    "UpdateType",
    "token_key",
]


class IdTokenType(enum.Enum):
    """What kind of id a token is: the card technologies a reader tells apart, and the ids a
    CSMS, a keypad or the car make up."""

    ISO14443 = "iso14443"  # a contactless card (MIFARE, DESFire): most RFID cards
    ISO15693 = "iso15693"  # a vicinity tag
    CENTRAL = "central"  # made up by the CSMS: a group, an app's session
    KEY_CODE = "key_code"  # typed on a keypad
    LOCAL = "local"  # made up by the station itself
    MAC_ADDRESS = "mac_address"  # the car's, where it identifies itself
    NO_AUTHORIZATION = "no_authorization"  # free charging: nobody is identified
    EMAID = "emaid"  # an e-mobility account (ISO 15118 contract certificates)

    @classmethod
    def named(cls, name: str) -> IdTokenType:
        """The type a token reader names ("ISO14443", "KeyCode", "eMAID", ...: the names of
        ``TokenPresented.kind``), without regard to case or underscores. ValueError if none."""
        found = _TYPES_BY_NAME.get(name.replace("_", "").casefold())
        if found is None:
            raise ValueError(f"{name!r} is not a token type")
        return found


_TYPES_BY_NAME = {t.name.replace("_", "").casefold(): t for t in IdTokenType}


def token_key(value: str) -> str:
    """The form an id is compared in: OCPP's CiString is case-insensitive, and a reader that
    reports ``04a1b2c3`` must find the list entry ``04A1B2C3``."""
    return value.casefold()


@dataclass(frozen=True, slots=True)
class IdToken:
    """Who asks to charge (a card's UID, a key code, an account) and what kind of id it is.

    Stores and reservations match tokens by value alone: OCPP 1.6 has no token types, so a card
    the CSMS listed under 1.6 must still be found when the reader presents it."""

    value: str
    type: IdTokenType
    #: The form the stores compare it in (``token_key``), worked out once.
    key: str = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.value, str) or not self.value:
            raise ValueError("an id token has a value")
        object.__setattr__(self, "key", token_key(self.value))


class AuthorizationStatus(enum.Enum):
    ACCEPTED = "accepted"
    BLOCKED = "blocked"
    EXPIRED = "expired"
    INVALID = "invalid"
    #: A valid card already charging elsewhere (OCPP 1.6 3.5.2 counts it valid); the station
    #: itself refuses a second session of one card.
    CONCURRENT_TX = "concurrent_tx"

    @property
    def word(self) -> str:
        """The status as one capitalised word, for messages to people ("Blocked")."""
        return self.name.title().replace("_", "")


# The cache asks every entry whether it is valid when it makes room: compared by identity with
# these, as an Enum's class attributes and its hash are slow to reach.
_ACCEPTED, _CONCURRENT_TX = AuthorizationStatus.ACCEPTED, AuthorizationStatus.CONCURRENT_TX


@dataclass(frozen=True, slots=True)
class AuthorizationResult:
    """What the CSMS says about an id token: its status, until when, and its group."""

    status: AuthorizationStatus
    #: Epoch seconds after which the token is no longer valid (None: no end).
    expires_at: float | None = None
    #: The group the card belongs to (a fleet, a household): cards of one group share
    #: reservations.
    group: IdToken | None = None

    @property
    def valid(self) -> bool:
        """Accepted or ConcurrentTx, without regard to the expiry (see ``at``)."""
        return self.status is _ACCEPTED or self.status is _CONCURRENT_TX

    def at(self, now: float) -> AuthorizationResult:
        """This result as it stands at ``now``: a valid token past its expiry is Expired."""
        if self.valid and self.expires_at is not None and now >= self.expires_at:
            return dataclasses.replace(self, status=AuthorizationStatus.EXPIRED)
        return self


@dataclass(frozen=True, slots=True)
class AuthorizationEntry:
    """What the list or the cache holds for one id token."""

    id_token: IdToken  # as the CSMS or the reader gave it (the stores key it by ``key``)
    result: AuthorizationResult


class UpdateType(enum.Enum):
    FULL = "full"
    DIFFERENTIAL = "differential"


@dataclass(frozen=True, slots=True)
class LocalListUpdate:
    """A SendLocalList: Full replaces the list, Differential changes it."""

    version: int
    update_type: UpdateType
    #: Entries to add, or to replace the entry of the same id token.
    entries: tuple[AuthorizationEntry, ...] = ()
    #: Id tokens to take off the list (a Differential update only).
    removals: tuple[IdToken, ...] = ()


class UpdateStatus(enum.Enum):
    """The SendLocalList answer."""

    ACCEPTED = "accepted"
    FAILED = "failed"
    NOT_SUPPORTED = "not_supported"
    VERSION_MISMATCH = "version_mismatch"


class ClearCacheStatus(enum.Enum):
    #: Always: a disabled cache is empty already.
    ACCEPTED = "accepted"


@dataclass(frozen=True, slots=True)
class AuthorizationSnapshot:
    """The stores as the store keeps them across a restart."""

    #: The version the CSMS gave the list (kept while the list is disabled or empty).
    list_version: int
    local_list: tuple[AuthorizationEntry, ...]
    #: Least recently used first.
    cache: tuple[AuthorizationEntry, ...]


class AuthorizationRules(Protocol):
    """The configuration keys the decisions read; ``StationSettings`` carries them."""

    #: LocalAuthorizeOffline: offline, start for ids the list or cache hold as valid.
    local_authorize_offline: bool
    #: LocalPreAuthorize: online, start for ids the list or cache hold as Accepted at once.
    local_pre_authorize: bool
    #: AllowOfflineTxForUnknownId: offline, start for ids neither store knows.
    allow_offline_tx_for_unknown_id: bool


class LocalAuthorization:
    """The Local Authorization List and the Authorization Cache of one charge point.

    ``list_enabled`` and ``cache_enabled`` follow the LocalAuthListEnabled and
    AuthorizationCacheEnabled keys; a disabled store is neither consulted nor filled. A
    disabled list keeps its content and version (the CSMS's copy stays in step for when it is
    enabled again) but reports version -1 and answers SendLocalList NotSupported, as a charge
    point without the feature does. A disabled cache is emptied: enabled again later, it must
    not answer with verdicts the CSMS may have revoked in between.
    """

    def __init__(
        self,
        *,
        list_max_length: int = 10_000,
        send_list_max_length: int = 1_000,
        cache_max_entries: int = 1_000,
        list_enabled: bool = True,
        cache_enabled: bool = True,
    ) -> None:
        if list_max_length < 1 or send_list_max_length < 1 or cache_max_entries < 1:
            raise ValueError("list, message and cache sizes must be at least 1")
        #: LocalAuthListMaxLength: the most id tokens the list holds.
        self.list_max_length = list_max_length
        #: SendLocalListMaxLength: the most id tokens one SendLocalList may carry.
        self.send_list_max_length = send_list_max_length
        self.cache_max_entries = cache_max_entries
        self.list_enabled = list_enabled
        self._cache_enabled = cache_enabled
        self._list: dict[str, AuthorizationEntry] = {}
        self._version = 0
        # Least recently used first: eviction pops from the front.
        self._cache: OrderedDict[str, AuthorizationEntry] = OrderedDict()

    # --- the Local Authorization List (SendLocalList, GetLocalListVersion) ---------------------

    @property
    def list_version(self) -> int:
        """The GetLocalListVersion answer: -1 while the list is disabled, 0 while it is empty."""
        if not self.list_enabled:
            return -1
        return self._version if self._list else 0

    @property
    def list_size(self) -> int:
        return len(self._list)

    def send_local_list(self, update: LocalListUpdate) -> tuple[UpdateStatus, str]:
        """SendLocalList: (status, why).

        Full replaces the list; Differential adds or replaces each entry and removes each
        removal, and must carry a version newer than the list's (VersionMismatch otherwise,
        after which the CSMS is expected to send a Full list). An update is applied whole or
        not at all: a removal in a Full update, an id token named twice, more entries than
        SendLocalListMaxLength or a result longer than LocalAuthListMaxLength is Failed and
        leaves the list as it was.
        """
        if not self.list_enabled:
            return UpdateStatus.NOT_SUPPORTED, "the local authorization list is disabled"
        version = update.version
        if isinstance(version, bool) or not isinstance(version, int) or version < 0:
            return UpdateStatus.FAILED, f"list version {version!r} is not a version number"
        full = update.update_type is UpdateType.FULL
        if not full and version <= self.list_version:
            return (UpdateStatus.VERSION_MISMATCH,
                    f"list version {version} is not newer than {self.list_version}")
        count = len(update.entries) + len(update.removals)
        if count > self.send_list_max_length:
            return (UpdateStatus.FAILED, f"{count} entries, more than SendLocalListMaxLength "
                                         f"{self.send_list_max_length}")
        if full and update.removals:
            return (UpdateStatus.FAILED, f"id token {update.removals[0].value!r} has no "
                                         "authorization result (required in a Full update)")
        keys = [e.id_token.key for e in update.entries] + [t.key for t in update.removals]
        if len(set(keys)) != len(keys):
            return UpdateStatus.FAILED, "an id token appears more than once in the update"

        new_list = {} if full else dict(self._list)
        for token in update.removals:
            new_list.pop(token.key, None)  # removing an id the list lacks is no error
        for entry in update.entries:
            new_list[entry.id_token.key] = entry
        if len(new_list) > self.list_max_length:
            return (UpdateStatus.FAILED, f"the list would hold {len(new_list)} id tokens, more "
                                         f"than LocalAuthListMaxLength {self.list_max_length}")
        if new_list and version == 0:
            # Version 0 is how GetLocalListVersion says "empty": a list with entries needs
            # another number, or the CSMS could never tell the two apart.
            return UpdateStatus.FAILED, "list version 0 stands for an empty list"
        self._list = new_list
        self._version = version
        for key in new_list:
            # Ids in the list are never cached (OCPP 1.6 3.5.3): drop what the cache held.
            self._cache.pop(key, None)
        kind = "Full" if full else "Differential"
        return UpdateStatus.ACCEPTED, f"{kind} update: {len(new_list)} id tokens"

    def list_entry(self, id_token: IdToken) -> AuthorizationResult | None:
        """The list's entry for ``id_token`` as the CSMS sent it (no expiry applied)."""
        entry = self._list.get(id_token.key)
        return entry.result if entry is not None else None

    # --- the Authorization Cache (ClearCache) ----------------------------------------------------

    @property
    def cache_enabled(self) -> bool:
        return self._cache_enabled

    @cache_enabled.setter
    def cache_enabled(self, enabled: bool) -> None:
        self._cache_enabled = enabled
        if not enabled:
            self._cache.clear()

    @property
    def cache_size(self) -> int:
        return len(self._cache)

    def clear_cache(self) -> ClearCacheStatus:
        """ClearCache: always Accepted (a disabled cache is empty already)."""
        self._cache.clear()
        return ClearCacheStatus.ACCEPTED

    def forget(self, id_token: IdToken) -> AuthorizationEntry | None:
        """Drop the cache's entry for ``id_token`` (a customer's data cleared); the entry
        dropped, or None. The list is the CSMS's: only SendLocalList changes it."""
        return self._cache.pop(id_token.key, None)

    def remember(self, id_token: IdToken, result: AuthorizationResult, now: float) -> None:
        """Keep the CSMS's verdict on ``id_token``, from its answer to an authorization
        request or to a transaction's start or stop. Ids of the (enabled) list are left to
        the list."""
        key = id_token.key
        if not self._cache_enabled or (self.list_enabled and key in self._list):
            return
        if key in self._cache:
            self._cache[key] = AuthorizationEntry(id_token, result)
            self._cache.move_to_end(key)
            return
        if len(self._cache) >= self.cache_max_entries:
            self._make_room(now)
        self._cache[key] = AuthorizationEntry(id_token, result)

    def _make_room(self, now: float) -> None:
        # OCPP 1.6 3.5.1: first every entry that is no longer valid, then the oldest valid
        # ones (here: the least recently used, so a regular's card outlives a one-off visitor's).
        for key in [k for k, e in self._cache.items() if not e.result.at(now).valid]:
            del self._cache[key]
        while len(self._cache) >= self.cache_max_entries:
            self._cache.popitem(last=False)

    def cached(self, id_token: IdToken) -> AuthorizationResult | None:
        """The cache's entry for ``id_token`` as stored (no expiry applied, recency untouched)."""
        entry = self._cache.get(id_token.key)
        return entry.result if entry is not None else None

    # --- the decisions ---------------------------------------------------------------------------

    def lookup(self, id_token: IdToken, now: float) -> AuthorizationResult | None:
        """What the enabled stores know of ``id_token`` at ``now``: the list first, then the
        cache; a valid entry past its expiry reads Expired. None: neither knows it.

        A cache hit counts as a use (it moves to the back of the eviction queue), and a cache
        entry found expired is changed to Expired for good."""
        key = id_token.key
        if self.list_enabled:
            entry = self._list.get(key)
            if entry is not None:
                return entry.result.at(now)
        if self._cache_enabled:
            entry = self._cache.get(key)
            if entry is not None:
                current = entry.result.at(now)
                if current is not entry.result:
                    self._cache[key] = AuthorizationEntry(entry.id_token, current)
                self._cache.move_to_end(key)
                return current
        return None

    def decide_offline(self, id_token: IdToken, now: float,
                       rules: AuthorizationRules) -> AuthorizationResult | None:
        """The verdict on ``id_token`` when the CSMS cannot be asked.

        Returns an Accepted result (with the group where one is known) to start, the stored
        refusal (Blocked, Expired, Invalid) to refuse with its reason, or None to refuse a card
        that no local rule lets in (unknown with AllowOfflineTxForUnknownId false, or known
        valid with LocalAuthorizeOffline false)."""
        known = self.lookup(id_token, now)
        if known is not None and not known.valid:
            # A card the CSMS blocked or let expire stays out, whatever the unknown-id rule
            # says (OCPP 1.6 3.5.4).
            return known
        group = known.group if known is not None else None
        if known is not None and rules.local_authorize_offline:
            return AuthorizationResult(AuthorizationStatus.ACCEPTED, known.expires_at, group)
        if rules.allow_offline_tx_for_unknown_id:
            return AuthorizationResult(AuthorizationStatus.ACCEPTED, None, group)
        return None

    def decide_pre_authorize(self, id_token: IdToken, now: float,
                             rules: AuthorizationRules) -> AuthorizationResult | None:
        """With LocalPreAuthorize, while online: the Accepted entry that lets ``id_token`` start
        at once, or None to ask the CSMS. Only Accepted counts: a card held locally as Blocked,
        Expired or Invalid (or ConcurrentTx) is still shown to the CSMS, whose answer may have
        changed, so a local refusal never pre-empts it."""
        if not rules.local_pre_authorize:
            return None
        known = self.lookup(id_token, now)
        if known is not None and known.status is AuthorizationStatus.ACCEPTED:
            return known
        return None

    # --- persistence -----------------------------------------------------------------------------

    def cache_entries(self) -> tuple[AuthorizationEntry, ...]:
        """The cache, least recently used first."""
        return tuple(self._cache.values())

    def snapshot(self) -> AuthorizationSnapshot:
        return AuthorizationSnapshot(self._version, tuple(self._list.values()),
                                     self.cache_entries())

    def restore(self, snapshot: AuthorizationSnapshot) -> None:
        """Take back what ``snapshot()`` gave. All or nothing: a list version that is no
        version number raises ValueError and changes nothing. The cache keeps at most
        ``cache_max_entries`` of its most recently used entries, and none of the list's ids."""
        version = snapshot.list_version
        if isinstance(version, bool) or not isinstance(version, int) or version < 0:
            raise ValueError(f"list version {version!r} is not a version number")
        new_list = {entry.id_token.key: entry for entry in snapshot.local_list}
        new_cache: OrderedDict[str, AuthorizationEntry] = OrderedDict()
        for entry in snapshot.cache:
            key = entry.id_token.key
            if key not in new_list:
                new_cache[key] = entry
                new_cache.move_to_end(key)
        while len(new_cache) > self.cache_max_entries:
            new_cache.popitem(last=False)
        self._list, self._version = new_list, version
        self._cache = new_cache if self._cache_enabled else OrderedDict()
