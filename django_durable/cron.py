"""Cron expressions evaluated in an IANA timezone, with explicit DST rules.

Pure Python: time is always a parameter. croniter enumerates matching *local wall-clock*
times (naive datetimes, plain calendar arithmetic); this module turns them into instants
with these rules:

- A local time that does not exist (the spring-forward gap) fires once, shifted forward by
  the gap (02:30 becomes 03:30). A shifted fire that lands on another fire is one fire.
- A local time that occurs twice (autumn) fires once, at its first occurrence, unless the
  hour field is a wildcard (``*`` or ``*/n``): then the schedule follows real elapsed time
  through both passes.

The timeline of a zone is cut into segments of constant UTC offset at its transitions.
Inside a segment local time and UTC move together, so the next fire is croniter's next
match; only the gap before a segment and the repeated hour at its start need care.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from croniter import croniter

from django_durable.exceptions import InvalidScheduleError

ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

_TICK = timedelta(microseconds=1)
_SCAN = timedelta(hours=1)

EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
"""The earliest instant the cron code computes slots from (backfill ranges start here or
later)."""
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
"""The instant up to which the cron code computes slots (backfill ranges end here or
earlier); far enough from ``datetime.max`` for every calendar step it takes."""

_PROBE_FROM = datetime(2001, 1, 1)
"""A wall-clock time from which a new expression must have a next match (any fixed time
will do: without a year field, an expression that matches at all matches within 8 years,
the longest run without a 29 February)."""


@dataclass(frozen=True)
class Transition:
    """A change of a zone's UTC offset."""

    at: datetime
    """The instant (UTC) from which ``after`` applies."""
    before: timedelta
    """UTC offset until then."""
    after: timedelta
    """UTC offset from then on."""


def zone(name: str | None) -> ZoneInfo:
    """The ``ZoneInfo`` for an IANA name (``None`` is UTC); a clear error if unknown."""
    if name is None:
        return ZoneInfo("UTC")
    if not isinstance(name, str) or not name.strip() or name != name.strip():
        raise InvalidScheduleError(
            f"Unknown timezone {name!r}: use an IANA name such as 'Europe/Paris'.",
            field="cron_timezone",
        )
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidScheduleError(
            f"Unknown timezone {name!r}: use an IANA name such as 'Europe/Paris'.",
            field="cron_timezone",
        ) from None


def in_range(instant: datetime) -> bool:
    """Whether an aware ``instant`` lies within ``EARLIEST`` and ``LATEST``."""
    try:
        return EARLIEST <= instant <= LATEST
    except OverflowError:  # an offset pushes it past what datetime can hold
        return False


@functools.cache
def timezone_names() -> list[str]:
    """The IANA timezone names this machine knows, sorted."""
    return sorted(available_timezones())


def _invalid(expression: object, why: str) -> InvalidScheduleError:
    return InvalidScheduleError(
        f"Invalid cron expression {expression!r}: {why}.", field="schedule"
    )


def _fields(expression: str) -> list[str]:
    text = ALIASES.get(expression.lower(), expression)
    fields = text.split()
    if len(fields) not in (5, 6):
        raise _invalid(
            expression, f"expected 5 fields, or 6 with seconds first, not {len(fields)}"
        )
    for item in fields:
        for token in item.replace("-", ",").replace("/", ",").split(","):
            # No month or day name starts with R or H: these are croniter's random and
            # hashed values, which would make fire times differ between processes.
            if token.upper().startswith(("R", "H")):
                raise _invalid(expression, "random (R) and hashed (H) values are not allowed")
    return fields


@dataclass(frozen=True)
class Cron:
    """A validated cron expression and the timezone it is evaluated in."""

    expression: str
    """The expression as given, without surrounding whitespace."""
    timezone: str
    """The IANA timezone name (``"UTC"`` by default)."""
    tzinfo: ZoneInfo = field(repr=False, compare=False)
    """The zone itself."""
    has_seconds: bool = field(repr=False, compare=False)
    """Whether the expression has a seconds field (6 fields)."""
    wildcard_hour: bool = field(repr=False, compare=False)
    """Whether the hour field is ``*`` or ``*/n`` (the fall-back hour then fires twice)."""
    _croniter_text: str = field(repr=False, compare=False)

    @classmethod
    def parse(cls, expression: str, timezone: str | None = None) -> Cron:
        """Validate ``expression`` (and ``timezone``); ``InvalidScheduleError`` if bad.

        Each distinct (expression, timezone) is parsed once per process and shared: a
        ``Cron`` is immutable.
        """
        if not isinstance(expression, str) or not expression.strip():
            raise _invalid(expression, "it must be a non-empty string")
        if timezone is not None and not isinstance(timezone, str):
            zone(timezone)  # raises the timezone's error
        return _parse(expression, timezone)

    @classmethod
    def _build(cls, expression: str, timezone: str | None) -> Cron:
        text = expression.strip()
        fields = _fields(text)
        has_seconds = len(fields) == 6
        joined = " ".join(fields)
        try:
            valid = croniter.is_valid(joined, second_at_beginning=has_seconds)
        except Exception:  # croniter raises on some malformed input instead of answering
            valid = False
        if not valid:
            raise _invalid(text, "not a valid cron expression")
        hour = fields[2 if has_seconds else 1]
        tz = zone(timezone)
        parsed = cls(
            expression=text,
            timezone=tz.key,
            tzinfo=tz,
            has_seconds=has_seconds,
            wildcard_hour=hour == "*" or hour.startswith("*/"),
            _croniter_text=joined,
        )
        try:
            parsed._next_match(_PROBE_FROM)
        except Exception:  # croniter's CroniterBadDateError: no date ever matches
            raise _invalid(
                text, "it never fires (no date matches it, such as the 30th of February)"
            ) from None
        return parsed

    # -- instants ----------------------------------------------------------------------

    def local(self, instant: datetime) -> datetime:
        """``instant`` as a wall-clock time of this schedule's zone."""
        return instant.astimezone(self.tzinfo)

    def next_after(self, after: datetime) -> datetime:
        """The first fire instant strictly after ``after`` (aware, within ``EARLIEST`` and
        ``LATEST``), in UTC."""
        if after.tzinfo is None or after.utcoffset() is None:
            raise ValueError(f"next_after needs an aware datetime, got {after!r}.")
        if not in_range(after):
            raise ValueError(
                f"next_after needs an instant from {EARLIEST.isoformat()} to "
                f"{LATEST.isoformat()}, got {after.isoformat()}."
            )
        after = after.astimezone(UTC)
        regular = self._next_regular(after)
        best = regular
        # Fires shifted out of a gap land in [gap start, gap end) in real time.
        for gap in _transitions_between(self.tzinfo, after - _MAX_SHIFT, regular):
            shifted = self._next_shifted(gap, after)
            if shifted is not None and shifted < best:
                best = shifted
        return best

    def slots_between(self, start: datetime, end: datetime) -> Iterator[datetime]:
        """Every fire instant strictly between ``start`` and ``end``, ascending, in UTC.

        The same instants as ``next_after`` chained from ``start``. Where the offset stays
        constant and no DST rule applies, successive slots come from one croniter walk
        instead of a new croniter per slot (several times faster for long backfills).
        """
        current = start
        while True:
            current = self.next_after(current)
            if current >= end:
                return
            yield current
            plain_until = self._plain_until(current)
            if plain_until is None:
                continue
            offset = _offset(self.tzinfo, current)
            walk = croniter(
                self._croniter_text,
                (current + offset).replace(tzinfo=None),
                second_at_beginning=self.has_seconds,
            )
            limit = min(plain_until, end)
            while True:
                instant = (walk.get_next(datetime) - offset).replace(tzinfo=UTC)
                if instant >= limit:
                    break
                current = instant
                yield current
            if limit == end:
                return

    def _plain_until(self, after: datetime) -> datetime | None:
        """Up to when the fires after ``after`` are plain croniter matches at its offset:
        the next transition (or the end of the span searched for one), provided
        ``after`` is past any fire a previous gap shifts or a fall-back repeats;
        ``None`` if it is not."""
        previous = _previous_transition(self.tzinfo, after)
        if previous is not None and after < previous.at + _MAX_SHIFT:
            return None
        following = _next_transition(self.tzinfo, after)
        if following is not None:
            return following.at
        # No transition up to the end of next year (_next_transition's span).
        return datetime(after.year + 2, 1, 1, tzinfo=UTC)

    # -- the two kinds of fires ----------------------------------------------------------

    def _next_match(self, local: datetime) -> datetime:
        """The first matching wall-clock time strictly after naive ``local``."""
        found: datetime = croniter(
            self._croniter_text, local, second_at_beginning=self.has_seconds
        ).get_next(datetime)
        return found

    def _next_regular(self, after: datetime) -> datetime:
        """The first instant after ``after`` whose own wall-clock time matches.

        Within a segment of constant offset this is croniter's next match. A second
        occurrence of a repeated local time is skipped unless the hour is a wildcard.
        """
        offset = _offset(self.tzinfo, after)
        local = (after + offset).replace(tzinfo=None)
        start = _previous_transition(self.tzinfo, after)
        end = _next_transition(self.tzinfo, after)
        while True:
            match = self._next_match(local)
            instant = (match - offset).replace(tzinfo=UTC)
            if end is None or instant < end.at:
                repeated_until = _repeated_until(start)
                if (
                    repeated_until is not None
                    and match < repeated_until
                    and not self.wildcard_hour
                ):
                    local = repeated_until - _TICK  # the first pass already fired
                    continue
                if end is None and instant.year > after.year + 1:
                    # Look for transitions up to the match before trusting the offset.
                    end = _next_transition(self.tzinfo, after, until=instant)
                    if end is not None and instant >= end.at:
                        continue
                return instant
            # Nothing left in this segment: continue in the next one from its start.
            start, offset = end, end.after
            local = (end.at + offset).replace(tzinfo=None) - _TICK
            end = _next_transition(self.tzinfo, end.at)

    def _next_shifted(self, gap: Transition, after: datetime) -> datetime | None:
        """The first match inside ``gap``'s missing local hour, shifted forward, after
        ``after``; ``None`` if there is none."""
        if gap.after <= gap.before:
            return None  # not a gap
        gap_start = (gap.at + gap.before).replace(tzinfo=None)
        gap_end = (gap.at + gap.after).replace(tzinfo=None)
        from_local = max(gap_start - _TICK, (after + gap.before).replace(tzinfo=None))
        match = self._next_match(from_local)
        if match >= gap_end:
            return None
        return (match - gap.before).replace(tzinfo=UTC)


@functools.lru_cache(maxsize=4096)
def _parse(expression: str, timezone: str | None) -> Cron:
    return Cron._build(expression, timezone)


_MAX_SHIFT = timedelta(hours=25)
"""More than any gap in the tz database (Samoa skipped a whole day in 2011); fires shifted
out of a gap land at most this far after its start."""


def _offset(tz: tzinfo, instant: datetime) -> timedelta:
    offset = instant.astimezone(tz).utcoffset()
    assert offset is not None  # noqa: S101  (a ZoneInfo always has one)
    return offset


def _repeated_until(start: Transition | None) -> datetime | None:
    """For a segment that starts with a fall-back, the naive local time up to which its
    wall-clock times repeat the previous segment's; ``None`` otherwise."""
    if start is None or start.after >= start.before:
        return None
    return (start.at + start.before).replace(tzinfo=None)


@functools.lru_cache(maxsize=4096)
def _transitions_of_year(tz: ZoneInfo, year: int) -> tuple[Transition, ...]:
    """The offset changes of ``tz`` during ``year`` (UTC), found by scanning hourly and
    bisecting to the second."""
    found: list[Transition] = []
    moment = datetime(year, 1, 1, tzinfo=UTC)
    stop = datetime(year + 1, 1, 1, tzinfo=UTC)
    current = _offset(tz, moment)
    while moment < stop:
        following = moment + _SCAN
        offset = _offset(tz, following)
        if offset != current:
            low, high = moment, following
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                middle = middle.replace(microsecond=0)
                if _offset(tz, middle) == current:
                    low = middle
                else:
                    high = middle
            found.append(Transition(at=high, before=current, after=offset))
            current = offset
        moment = following
    return tuple(found)


def _next_transition(
    tz: ZoneInfo, after: datetime, until: datetime | None = None
) -> Transition | None:
    """The first transition strictly after ``after``, looking up to ``until`` (default:
    the end of the following year)."""
    last_year = (until or after).year + (0 if until else 1)
    for year in range(after.year, last_year + 1):
        for item in _transitions_of_year(tz, year):
            if item.at > after:
                return item
    return None


def _previous_transition(tz: ZoneInfo, instant: datetime) -> Transition | None:
    """The last transition at or before ``instant`` (this year or the one before)."""
    for year in (instant.year, instant.year - 1):
        for item in reversed(_transitions_of_year(tz, year)):
            if item.at <= instant:
                return item
    return None


def _transitions_between(tz: ZoneInfo, start: datetime, end: datetime) -> list[Transition]:
    """Transitions with ``start < at <= end``."""
    found: list[Transition] = []
    for year in range(start.year, end.year + 1):
        found.extend(item for item in _transitions_of_year(tz, year) if start < item.at <= end)
    return found
