"""Who may charge when the CSMS is not asked: the Local Authorization List, the Authorization
Cache, and the offline and pre-authorisation decisions of OCPP 1.6 (section 3.5).

A card tapped at a charge point is normally shown to the CSMS (Authorize.req) and the session
starts on its ``Accepted``. Two local stores let the station decide without that round trip:

* the **Local Authorization List** is written by the CSMS (SendLocalList), carries a version
  number (GetLocalListVersion) and says for each id tag Accepted, Blocked, Expired or Invalid,
  with an optional expiry date and parent id tag. It is the CSMS's own word, so it takes
  priority over the cache, and its ids are never cached;
* the **Authorization Cache** is filled by the station itself from every ``idTagInfo`` the CSMS
  sends back (Authorize, StartTransaction and StopTransaction answers), valid or not. It is
  bounded: when full, entries that are no longer valid go first, then the least recently used
  valid ones. ClearCache empties it.

Neither store is believed past its ``expiryDate``: a card whose validity ran out reads
``Expired``, and in the cache the entry is changed to Expired, as the specification asks.

The decisions the station takes from them:

* offline (``LocalAuthorizeOffline``): a card the stores hold as valid starts at once; a card
  they hold as Blocked, Expired or Invalid is refused, whatever ``AllowOfflineTxForUnknownId``
  says; a card they do not know starts only if ``AllowOfflineTxForUnknownId`` is true;
* online with ``LocalPreAuthorize``: a card the stores hold as Accepted starts without waiting
  for the CSMS (which still learns of it from StartTransaction and may stop it by answering
  Invalid there); any other card is shown to the CSMS as usual.

Id tags are OCPP ``CiString20Type``: compared without regard to case, at most 20 characters.
Pure: no I/O, time passed in as epoch seconds; ``snapshot()``/``restore()`` give the daemon plain
JSON-able dicts to persist across a power cut.
"""

from __future__ import annotations

import dataclasses
import enum
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from pievse.core.datetimes import format_datetime, parse_datetime
from pievse.core.vocabulary import AuthorizationStatus

__all__ = [
    "AuthorizationRules",
    "IdTagInfo",
    "IdTagInfoError",
    "LocalAuthorization",
    "UpdateStatus",
    "UpdateType",
    "id_tag_key",
    "parse_id_tag",
]

#: OCPP 1.6 IdToken is a CiString20Type.
ID_TAG_MAX_LENGTH = 20

#: Statuses that let a card charge. ConcurrentTx is a valid card already charging elsewhere
#: (OCPP 1.6 3.5.2 counts it valid); the station itself refuses a second session of one card.
_VALID = frozenset({AuthorizationStatus.ACCEPTED, AuthorizationStatus.CONCURRENT_TX})


class IdTagInfoError(ValueError):
    """An idTagInfo or id tag that is not shaped as OCPP 1.6 says."""


def id_tag_key(id_tag: str) -> str:
    """The form an id tag is compared in: OCPP's CiString is case-insensitive, and a reader
    that reports ``04a1b2c3`` must find the list entry ``04A1B2C3``."""
    return id_tag.casefold()


def parse_id_tag(value: Any, name: str = "idTag") -> str:
    """A non-empty string of at most 20 characters, or IdTagInfoError."""
    if not isinstance(value, str) or not value:
        raise IdTagInfoError(f"{name} must be a non-empty string")
    if len(value) > ID_TAG_MAX_LENGTH:
        raise IdTagInfoError(f"{name} {value!r} is longer than {ID_TAG_MAX_LENGTH} characters")
    return value


@dataclass(frozen=True, slots=True)
class IdTagInfo:
    """What the CSMS says about an id tag: its status, until when, and its group (parent)."""

    status: AuthorizationStatus
    #: Epoch seconds after which the tag is no longer valid (None: no end).
    expiry_date: float | None = None
    #: The group the card belongs to (a fleet, a household): cards with the same parent share
    #: reservations.
    parent_id_tag: str | None = None

    @classmethod
    def from_ocpp(cls, obj: Any) -> IdTagInfo:
        """From OCPP's camelCase object (``{"status": ..., "expiryDate": ..., ...}``)."""
        if not isinstance(obj, Mapping):
            raise IdTagInfoError("idTagInfo must be an object")
        try:
            status = AuthorizationStatus(obj.get("status"))
        except ValueError:
            raise IdTagInfoError(f"idTagInfo.status {obj.get('status')!r} is not one of "
                                 f"{[s.value for s in AuthorizationStatus]}") from None
        expiry = obj.get("expiryDate")
        if expiry is not None:
            if not isinstance(expiry, str):
                raise IdTagInfoError("idTagInfo.expiryDate must be an ISO 8601 string")
            try:
                expiry = parse_datetime(expiry)
            except ValueError as error:
                raise IdTagInfoError(f"idTagInfo.expiryDate: {error}") from None
        parent = obj.get("parentIdTag")
        if parent is not None:
            parent = parse_id_tag(parent, "idTagInfo.parentIdTag")
        return cls(status, expiry, parent)

    def to_ocpp(self) -> dict[str, Any]:
        obj: dict[str, Any] = {"status": self.status.value}
        if self.expiry_date is not None:
            obj["expiryDate"] = format_datetime(self.expiry_date)
        if self.parent_id_tag is not None:
            obj["parentIdTag"] = self.parent_id_tag
        return obj

    @property
    def valid(self) -> bool:
        """Accepted or ConcurrentTx, without regard to the expiry date (see ``at``)."""
        return self.status in _VALID

    def at(self, now: float) -> IdTagInfo:
        """This verdict as it stands at ``now``: a valid tag past its expiry date is Expired."""
        if self.valid and self.expiry_date is not None and now >= self.expiry_date:
            return dataclasses.replace(self, status=AuthorizationStatus.EXPIRED)
        return self


class UpdateType(str, enum.Enum):
    FULL = "Full"
    DIFFERENTIAL = "Differential"


class UpdateStatus(str, enum.Enum):
    """The SendLocalList answer."""

    ACCEPTED = "Accepted"
    FAILED = "Failed"
    NOT_SUPPORTED = "NotSupported"
    VERSION_MISMATCH = "VersionMismatch"


class AuthorizationRules(Protocol):
    """The configuration keys the decisions read; ``StationSettings`` carries them."""

    #: LocalAuthorizeOffline: offline, start for ids the list or cache hold as valid.
    local_authorize_offline: bool
    #: LocalPreAuthorize: online, start for ids the list or cache hold as Accepted at once.
    local_pre_authorize: bool
    #: AllowOfflineTxForUnknownId: offline, start for ids neither store knows.
    allow_offline_tx_for_unknown_id: bool


@dataclass(frozen=True, slots=True)
class _Entry:
    id_tag: str  # as the CSMS spelt it (the key is its case-folded form)
    info: IdTagInfo

    def to_ocpp(self) -> dict[str, Any]:
        return {"idTag": self.id_tag, "idTagInfo": self.info.to_ocpp()}


def _parse_entry(obj: Any, *, info_required: bool) -> _Entry | str:
    """A SendLocalList AuthorizationData as an entry, or its id tag alone for a removal."""
    if not isinstance(obj, Mapping):
        raise IdTagInfoError("an AuthorizationData must be an object")
    id_tag = parse_id_tag(obj.get("idTag"))
    info = obj.get("idTagInfo")
    if info is None:
        if info_required:
            raise IdTagInfoError(f"idTag {id_tag!r} has no idTagInfo (required in a Full update)")
        return id_tag
    return _Entry(id_tag, IdTagInfo.from_ocpp(info))


def _parse_stored(obj: Any) -> _Entry:
    entry = _parse_entry(obj, info_required=True)
    if not isinstance(entry, _Entry):  # cannot happen with info_required; keeps types honest
        raise IdTagInfoError("a stored entry has no idTagInfo")
    return entry


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
        #: LocalAuthListMaxLength: the most id tags the list holds.
        self.list_max_length = list_max_length
        #: SendLocalListMaxLength: the most id tags one SendLocalList may carry.
        self.send_list_max_length = send_list_max_length
        self.cache_max_entries = cache_max_entries
        self.list_enabled = list_enabled
        self._cache_enabled = cache_enabled
        self._list: dict[str, _Entry] = {}
        self._version = 0
        # Least recently used first: eviction pops from the front.
        self._cache: OrderedDict[str, _Entry] = OrderedDict()

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

    def send_local_list(
        self, list_version: int, update_type: UpdateType | str,
        entries: Iterable[Any] | None = None,
    ) -> tuple[UpdateStatus, str]:
        """SendLocalList with OCPP's camelCase AuthorizationData objects: (status, why).

        Full replaces the list; Differential adds or updates each entry that has an idTagInfo
        and removes each that has none, and must carry a version newer than the list's
        (VersionMismatch otherwise, after which the CSMS is expected to send a Full list). An
        update is applied whole or not at all: a malformed entry, an id tag named twice, more
        entries than SendLocalListMaxLength or a result longer than LocalAuthListMaxLength is
        Failed and leaves the list as it was.
        """
        if not self.list_enabled:
            return UpdateStatus.NOT_SUPPORTED, "the local authorization list is disabled"
        try:
            kind = UpdateType(update_type)
        except ValueError:
            return (UpdateStatus.FAILED,
                    f"updateType {update_type!r} is neither Full nor Differential")
        if isinstance(list_version, bool) or not isinstance(list_version, int) or list_version < 0:
            return UpdateStatus.FAILED, f"listVersion {list_version!r} is not a version number"
        if kind is UpdateType.DIFFERENTIAL and list_version <= self.list_version:
            return (UpdateStatus.VERSION_MISMATCH,
                    f"listVersion {list_version} is not newer than {self.list_version}")
        items = list(entries or ())
        if len(items) > self.send_list_max_length:
            return (UpdateStatus.FAILED, f"{len(items)} entries, more than SendLocalListMaxLength "
                                         f"{self.send_list_max_length}")
        try:
            parsed = [_parse_entry(item, info_required=kind is UpdateType.FULL) for item in items]
        except IdTagInfoError as error:
            return UpdateStatus.FAILED, str(error)
        keys = [id_tag_key(p if isinstance(p, str) else p.id_tag) for p in parsed]
        if len(set(keys)) != len(keys):
            return UpdateStatus.FAILED, "an idTag appears more than once in the update"

        new_list = {} if kind is UpdateType.FULL else dict(self._list)
        for key, item in zip(keys, parsed, strict=True):
            if isinstance(item, str):
                new_list.pop(key, None)  # removing an id the list lacks is no error
            else:
                new_list[key] = item
        if len(new_list) > self.list_max_length:
            return (UpdateStatus.FAILED, f"the list would hold {len(new_list)} id tags, more than "
                                         f"LocalAuthListMaxLength {self.list_max_length}")
        if new_list and list_version == 0:
            # Version 0 is how GetLocalListVersion says "empty": a list with entries needs
            # another number, or the CSMS could never tell the two apart.
            return UpdateStatus.FAILED, "listVersion 0 stands for an empty list"
        self._list = new_list
        self._version = list_version
        for key in new_list:
            # Ids in the list are never cached (OCPP 1.6 3.5.3): drop what the cache held.
            self._cache.pop(key, None)
        return UpdateStatus.ACCEPTED, f"{kind.value} update: {len(new_list)} id tags"

    def list_entry(self, id_tag: str) -> IdTagInfo | None:
        """The list's entry for ``id_tag`` as the CSMS sent it (no expiry applied)."""
        entry = self._list.get(id_tag_key(id_tag))
        return entry.info if entry is not None else None

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

    def clear_cache(self) -> str:
        """ClearCache: always Accepted (a disabled cache is empty already)."""
        self._cache.clear()
        return "Accepted"

    def remember(self, id_tag: str, info: IdTagInfo, now: float) -> None:
        """Keep the CSMS's verdict on ``id_tag`` from an Authorize, StartTransaction or
        StopTransaction answer. Ids of the (enabled) list are left to the list."""
        key = id_tag_key(id_tag)
        if not self._cache_enabled or (self.list_enabled and key in self._list):
            return
        if key in self._cache:
            self._cache[key] = _Entry(id_tag, info)
            self._cache.move_to_end(key)
            return
        if len(self._cache) >= self.cache_max_entries:
            self._make_room(now)
        self._cache[key] = _Entry(id_tag, info)

    def _make_room(self, now: float) -> None:
        # OCPP 1.6 3.5.1: first every entry that is no longer valid, then the oldest valid
        # ones (here: the least recently used, so a regular's card outlives a one-off visitor's).
        for key in [k for k, e in self._cache.items() if not e.info.at(now).valid]:
            del self._cache[key]
        while len(self._cache) >= self.cache_max_entries:
            self._cache.popitem(last=False)

    def cached(self, id_tag: str) -> IdTagInfo | None:
        """The cache's entry for ``id_tag`` as stored (no expiry applied, recency untouched)."""
        entry = self._cache.get(id_tag_key(id_tag))
        return entry.info if entry is not None else None

    # --- the decisions ---------------------------------------------------------------------------

    def lookup(self, id_tag: str, now: float) -> IdTagInfo | None:
        """What the enabled stores know of ``id_tag`` at ``now``: the list first, then the
        cache; a valid entry past its expiry date reads Expired. None: neither knows it.

        A cache hit counts as a use (it moves to the back of the eviction queue), and a cache
        entry found expired is changed to Expired for good."""
        key = id_tag_key(id_tag)
        if self.list_enabled:
            entry = self._list.get(key)
            if entry is not None:
                return entry.info.at(now)
        if self._cache_enabled:
            entry = self._cache.get(key)
            if entry is not None:
                current = entry.info.at(now)
                if current is not entry.info:
                    self._cache[key] = _Entry(entry.id_tag, current)
                self._cache.move_to_end(key)
                return current
        return None

    def decide_offline(self, id_tag: str, now: float,
                       rules: AuthorizationRules) -> IdTagInfo | None:
        """The verdict on ``id_tag`` when the CSMS cannot be asked.

        Returns an Accepted IdTagInfo (with the parent id tag where one is known) to start, the
        stored refusal (Blocked, Expired, Invalid) to refuse with its reason, or None to refuse a
        card that no local rule lets in (unknown with AllowOfflineTxForUnknownId false, or known
        valid with LocalAuthorizeOffline false)."""
        known = self.lookup(id_tag, now)
        if known is not None and not known.valid:
            # A card the CSMS blocked or let expire stays out, whatever the unknown-id rule
            # says (OCPP 1.6 3.5.4).
            return known
        parent = known.parent_id_tag if known is not None else None
        if known is not None and rules.local_authorize_offline:
            return IdTagInfo(AuthorizationStatus.ACCEPTED, known.expiry_date, parent)
        if rules.allow_offline_tx_for_unknown_id:
            return IdTagInfo(AuthorizationStatus.ACCEPTED, None, parent)
        return None

    def decide_pre_authorize(self, id_tag: str, now: float,
                             rules: AuthorizationRules) -> IdTagInfo | None:
        """With LocalPreAuthorize, while online: the Accepted entry that lets ``id_tag`` start
        at once, or None to ask the CSMS. Only Accepted counts: a card held locally as Blocked,
        Expired or Invalid (or ConcurrentTx) is still shown to the CSMS, whose answer may have
        changed, so a local refusal never pre-empts it."""
        if not rules.local_pre_authorize:
            return None
        known = self.lookup(id_tag, now)
        if known is not None and known.status is AuthorizationStatus.ACCEPTED:
            return known
        return None

    # --- persistence -----------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The list, its version and the cache (least recently used first) as JSON-able dicts,
        in OCPP's camelCase."""
        return {
            "listVersion": self._version,
            "localAuthorizationList": [e.to_ocpp() for e in self._list.values()],
            "authorizationCache": [e.to_ocpp() for e in self._cache.values()],
        }

    def restore(self, snapshot: Mapping[str, Any]) -> None:
        """Take back what ``snapshot()`` gave. All or nothing: a malformed snapshot raises
        IdTagInfoError and changes nothing (the daemon then starts with empty stores and the
        CSMS, seeing version 0, sends the list again). The cache keeps at most
        ``cache_max_entries`` of its most recently used entries."""
        if not isinstance(snapshot, Mapping):
            raise IdTagInfoError("an authorization snapshot must be an object")
        version = snapshot.get("listVersion", 0)
        if isinstance(version, bool) or not isinstance(version, int) or version < 0:
            raise IdTagInfoError(f"listVersion {version!r} is not a version number")
        new_list: dict[str, _Entry] = {}
        for item in snapshot.get("localAuthorizationList") or ():
            entry = _parse_stored(item)
            new_list[id_tag_key(entry.id_tag)] = entry
        new_cache: OrderedDict[str, _Entry] = OrderedDict()
        for item in snapshot.get("authorizationCache") or ():
            entry = _parse_stored(item)
            key = id_tag_key(entry.id_tag)
            if key not in new_list:
                new_cache[key] = entry
                new_cache.move_to_end(key)
        while len(new_cache) > self.cache_max_entries:
            new_cache.popitem(last=False)
        self._list, self._version = new_list, version
        self._cache = new_cache if self._cache_enabled else OrderedDict()
