"""Unit tests for django_durable.cron (pure Python, no database).

Every expected instant below was derived by hand from the schedule rules and the tz
database (2026 transitions checked with ``zoneinfo``; see ``test_tz_database``), and is
written out literally in UTC. Nothing here asks croniter or the code under test for an
expected value.

The DST rules, evaluated in the schedule's IANA timezone:

* a local time that does not exist (spring-forward gap) fires once, shifted forward by the
  gap; if the shifted instant is also another fire instant, it fires once;
* a local time that occurs twice (fall-back) fires once, at its first (daylight-time)
  occurrence, unless the HOUR field is a wildcard (``*`` or ``*/n``), in which case both
  passes fire (the schedule follows real elapsed time).

2026 transitions used:

* America/New_York: 2026-03-08 07:00 UTC, 02:00 EST -> 03:00 EDT (02:xx missing);
  2026-11-01 06:00 UTC, 02:00 EDT -> 01:00 EST (01:xx twice: 05:xx EDT then 06:xx EST).
* Australia/Sydney: 2026-04-04 16:00 UTC, 03:00 AEDT -> 02:00 AEST on 04-05 (02:xx twice:
  15:xx UTC then 16:xx UTC); 2026-10-03 16:00 UTC, 02:00 AEST -> 03:00 AEDT on 10-04
  (02:xx missing).
* America/Havana: 2026-03-08 05:00 UTC, 00:00 CST -> 01:00 CDT (midnight missing);
  2026-11-01 05:00 UTC, 01:00 CDT -> 00:00 CST (00:xx twice: 04:xx UTC then 05:xx UTC).
* Australia/Lord_Howe (30-minute shift): 2026-04-04 15:00 UTC, 02:00 +11 -> 01:30 +10:30
  on 04-05 (01:30-01:59 twice); 2026-10-03 15:30 UTC, 02:00 +10:30 -> 02:30 +11 on 10-04
  (02:00-02:29 missing).
* Antarctica/Troll (2-hour shift): 2026-03-29 01:00 UTC, 01:00 +00 -> 03:00 +02 (01:00-02:59
  missing); 2026-10-25 01:00 UTC, 03:00 +02 -> 01:00 +00 (01:00-02:59 twice: 10-24 23:xx
  and 10-25 00:xx UTC, then 01:xx and 02:xx UTC).
* Pacific/Apia skipped a whole day: 2011-12-30 10:00 UTC, 2011-12-29 24:00 -10 ->
  2011-12-31 00:00 +14 (the local date 2011-12-30 does not exist; the gap is 24 hours).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from django_durable.cron import Cron, _transitions_of_year
from django_durable.exceptions import DurableError, InvalidScheduleError

NEW_YORK = "America/New_York"
SYDNEY = "Australia/Sydney"
HAVANA = "America/Havana"
LORD_HOWE = "Australia/Lord_Howe"
TOKYO = "Asia/Tokyo"
TROLL = "Antarctica/Troll"
APIA = "Pacific/Apia"

H = timedelta(hours=1)
DAY = timedelta(days=1)


def utc(
    year: int,
    month: int,
    day: int,
    hour: int = 0,
    minute: int = 0,
    second: int = 0,
    microsecond: int = 0,
) -> datetime:
    """An aware UTC datetime."""
    return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=UTC)


def successive(cron: Cron, start: datetime, count: int) -> list[datetime]:
    """``count`` fire instants after ``start``, by calling ``next_after`` repeatedly."""
    out: list[datetime] = []
    current = start
    for _ in range(count):
        current = cron.next_after(current)
        out.append(current)
    return out


def check_sequence(
    expression: str, tz: str | None, start: datetime, expected: list[datetime]
) -> None:
    """``next_after`` chained from ``start`` and ``slots_between`` both give ``expected``."""
    cron = Cron.parse(expression, tz)
    got = successive(cron, start, len(expected))
    assert got == expected
    for instant in got:
        assert instant.tzinfo is UTC
    # slots_between excludes its end: ending exactly on the last slot drops it.
    assert list(cron.slots_between(start, expected[-1])) == expected[:-1]
    between = list(cron.slots_between(start, expected[-1] + timedelta(microseconds=1)))
    assert between == expected
    for instant in between:
        assert instant.tzinfo is UTC


# ---------------------------------------------------------------- tz database assumptions


@pytest.mark.parametrize(
    ("tz", "before", "after"),
    [
        # (tz, last instant with the old offset, first instant with the new offset)
        (NEW_YORK, (utc(2026, 3, 8, 6, 59, 59), -5), (utc(2026, 3, 8, 7), -4)),
        (NEW_YORK, (utc(2026, 11, 1, 5, 59, 59), -4), (utc(2026, 11, 1, 6), -5)),
        (SYDNEY, (utc(2026, 4, 4, 15, 59, 59), 11), (utc(2026, 4, 4, 16), 10)),
        (SYDNEY, (utc(2026, 10, 3, 15, 59, 59), 10), (utc(2026, 10, 3, 16), 11)),
        (HAVANA, (utc(2026, 3, 8, 4, 59, 59), -5), (utc(2026, 3, 8, 5), -4)),
        (HAVANA, (utc(2026, 11, 1, 4, 59, 59), -4), (utc(2026, 11, 1, 5), -5)),
        (LORD_HOWE, (utc(2026, 4, 4, 14, 59, 59), 11), (utc(2026, 4, 4, 15), 10.5)),
        (LORD_HOWE, (utc(2026, 10, 3, 15, 29, 59), 10.5), (utc(2026, 10, 3, 15, 30), 11)),
        (TROLL, (utc(2026, 3, 29, 0, 59, 59), 0), (utc(2026, 3, 29, 1), 2)),
        (TROLL, (utc(2026, 10, 25, 0, 59, 59), 2), (utc(2026, 10, 25, 1), 0)),
        (APIA, (utc(2011, 12, 30, 9, 59, 59), -10), (utc(2011, 12, 30, 10), 14)),
        (NEW_YORK, (utc(2027, 3, 14, 6, 59, 59), -5), (utc(2027, 3, 14, 7), -4)),
        (SYDNEY, (utc(2028, 4, 1, 15, 59, 59), 11), (utc(2028, 4, 1, 16), 10)),
        (SYDNEY, (utc(2028, 9, 30, 15, 59, 59), 10), (utc(2028, 9, 30, 16), 11)),
    ],
    ids=[
        "new-york-spring",
        "new-york-autumn",
        "sydney-april",
        "sydney-october",
        "havana-spring",
        "havana-autumn",
        "lord-howe-april",
        "lord-howe-october",
        "troll-spring",
        "troll-autumn",
        "apia-skipped-day",
        "new-york-spring-2027",
        "sydney-april-2028",
        "sydney-october-2028",
    ],
)
def test_tz_database(
    tz: str, before: tuple[datetime, float], after: tuple[datetime, float]
) -> None:
    """The transitions every expected value in this file was derived from."""
    zone = ZoneInfo(tz)
    for instant, hours in (before, after):
        assert instant.astimezone(zone).utcoffset() == timedelta(hours=hours)


# ---------------------------------------------------------------- DST tables

DST_TABLE = [
    # ---- America/New_York, spring forward 2026-03-08 (02:00 EST -> 03:00 EDT)
    pytest.param(
        NEW_YORK,
        "30 2 * * *",
        utc(2026, 3, 6),
        [
            utc(2026, 3, 6, 7, 30),  # 03-06 02:30 EST
            utc(2026, 3, 7, 7, 30),  # 03-07 02:30 EST
            utc(2026, 3, 8, 7, 30),  # 03-08 02:30 missing -> 03:30 EDT
            utc(2026, 3, 9, 6, 30),  # 03-09 02:30 EDT
            utc(2026, 3, 10, 6, 30),  # 03-10 02:30 EDT
        ],
        id="new-york-spring-daily-0230",
    ),
    pytest.param(
        NEW_YORK,
        "0 * * * *",
        utc(2026, 3, 8, 3, 30),
        [
            utc(2026, 3, 8, 4),  # 23:00 EST (03-07)
            utc(2026, 3, 8, 5),  # 00:00 EST
            utc(2026, 3, 8, 6),  # 01:00 EST
            utc(2026, 3, 8, 7),  # 02:00 missing -> 03:00 EDT == the 03:00 fire, once
            utc(2026, 3, 8, 8),  # 04:00 EDT
            utc(2026, 3, 8, 9),  # 05:00 EDT
        ],
        id="new-york-spring-hourly",
    ),
    pytest.param(
        NEW_YORK,
        "*/15 * * * *",
        utc(2026, 3, 8, 6, 20),
        [
            utc(2026, 3, 8, 6, 30),  # 01:30 EST
            utc(2026, 3, 8, 6, 45),  # 01:45 EST
            utc(2026, 3, 8, 7, 0),  # 03:00 EDT (02:00 shifted, same instant)
            utc(2026, 3, 8, 7, 15),  # 03:15 EDT (02:15 shifted, same instant)
            utc(2026, 3, 8, 7, 30),
            utc(2026, 3, 8, 7, 45),
            utc(2026, 3, 8, 8, 0),
            utc(2026, 3, 8, 8, 15),
        ],
        id="new-york-spring-every-15-min",
    ),
    pytest.param(
        NEW_YORK,
        "* * * * * *",
        utc(2026, 3, 8, 6, 59, 56),
        [
            utc(2026, 3, 8, 6, 59, 57),  # 01:59:57 EST
            utc(2026, 3, 8, 6, 59, 58),
            utc(2026, 3, 8, 6, 59, 59),  # 01:59:59 EST
            utc(2026, 3, 8, 7, 0, 0),  # 03:00:00 EDT
            utc(2026, 3, 8, 7, 0, 1),
            utc(2026, 3, 8, 7, 0, 2),
            utc(2026, 3, 8, 7, 0, 3),
        ],
        id="new-york-spring-every-second",
    ),
    # ---- America/New_York, fall back 2026-11-01 (02:00 EDT -> 01:00 EST)
    pytest.param(
        NEW_YORK,
        "30 1 * * *",
        utc(2026, 10, 30),
        [
            utc(2026, 10, 30, 5, 30),  # 10-30 01:30 EDT
            utc(2026, 10, 31, 5, 30),  # 10-31 01:30 EDT
            utc(2026, 11, 1, 5, 30),  # 11-01 01:30 EDT (first); 01:30 EST skipped
            utc(2026, 11, 2, 6, 30),  # 11-02 01:30 EST
            utc(2026, 11, 3, 6, 30),  # 11-03 01:30 EST
        ],
        id="new-york-autumn-daily-0130",
    ),
    pytest.param(
        NEW_YORK,
        "0 * * * *",
        utc(2026, 11, 1, 2, 30),
        [
            utc(2026, 11, 1, 3),  # 23:00 EDT (10-31)
            utc(2026, 11, 1, 4),  # 00:00 EDT
            utc(2026, 11, 1, 5),  # 01:00 EDT
            utc(2026, 11, 1, 6),  # 01:00 EST (second pass)
            utc(2026, 11, 1, 7),  # 02:00 EST
            utc(2026, 11, 1, 8),  # 03:00 EST
        ],
        id="new-york-autumn-hourly",
    ),
    pytest.param(
        NEW_YORK,
        "*/15 * * * *",
        utc(2026, 11, 1, 4, 50),
        [
            utc(2026, 11, 1, 5, 0),  # 01:00 EDT
            utc(2026, 11, 1, 5, 15),
            utc(2026, 11, 1, 5, 30),
            utc(2026, 11, 1, 5, 45),  # 01:45 EDT
            utc(2026, 11, 1, 6, 0),  # 01:00 EST
            utc(2026, 11, 1, 6, 15),
            utc(2026, 11, 1, 6, 30),
            utc(2026, 11, 1, 6, 45),  # 01:45 EST
            utc(2026, 11, 1, 7, 0),  # 02:00 EST
            utc(2026, 11, 1, 7, 15),
        ],
        id="new-york-autumn-every-15-min",
    ),
    pytest.param(
        NEW_YORK,
        "* * * * * *",
        utc(2026, 11, 1, 5, 59, 56),
        [
            utc(2026, 11, 1, 5, 59, 57),  # 01:59:57 EDT
            utc(2026, 11, 1, 5, 59, 58),
            utc(2026, 11, 1, 5, 59, 59),  # 01:59:59 EDT
            utc(2026, 11, 1, 6, 0, 0),  # 01:00:00 EST
            utc(2026, 11, 1, 6, 0, 1),
            utc(2026, 11, 1, 6, 0, 2),
            utc(2026, 11, 1, 6, 0, 3),
        ],
        id="new-york-autumn-every-second",
    ),
    # ---- Australia/Sydney, DST ends 2026-04-05 (03:00 AEDT -> 02:00 AEST)
    pytest.param(
        SYDNEY,
        "30 2 * * *",
        utc(2026, 4, 2),
        [
            utc(2026, 4, 2, 15, 30),  # 04-03 02:30 AEDT
            utc(2026, 4, 3, 15, 30),  # 04-04 02:30 AEDT
            utc(2026, 4, 4, 15, 30),  # 04-05 02:30 AEDT (first); 02:30 AEST skipped
            utc(2026, 4, 5, 16, 30),  # 04-06 02:30 AEST
            utc(2026, 4, 6, 16, 30),  # 04-07 02:30 AEST
        ],
        id="sydney-april-daily-0230",
    ),
    pytest.param(
        SYDNEY,
        "0 * * * *",
        utc(2026, 4, 4, 12, 30),
        [
            utc(2026, 4, 4, 13),  # 04-05 00:00 AEDT
            utc(2026, 4, 4, 14),  # 01:00 AEDT
            utc(2026, 4, 4, 15),  # 02:00 AEDT
            utc(2026, 4, 4, 16),  # 02:00 AEST (second pass)
            utc(2026, 4, 4, 17),  # 03:00 AEST
            utc(2026, 4, 4, 18),  # 04:00 AEST
        ],
        id="sydney-april-hourly",
    ),
    pytest.param(
        SYDNEY,
        "*/15 * * * *",
        utc(2026, 4, 4, 14, 40),
        [
            utc(2026, 4, 4, 14, 45),  # 01:45 AEDT
            utc(2026, 4, 4, 15, 0),  # 02:00 AEDT
            utc(2026, 4, 4, 15, 15),
            utc(2026, 4, 4, 15, 30),
            utc(2026, 4, 4, 15, 45),  # 02:45 AEDT
            utc(2026, 4, 4, 16, 0),  # 02:00 AEST
            utc(2026, 4, 4, 16, 15),
            utc(2026, 4, 4, 16, 30),
            utc(2026, 4, 4, 16, 45),  # 02:45 AEST
            utc(2026, 4, 4, 17, 0),  # 03:00 AEST
        ],
        id="sydney-april-every-15-min",
    ),
    pytest.param(
        SYDNEY,
        "* * * * * *",
        utc(2026, 4, 4, 15, 59, 56),
        [
            utc(2026, 4, 4, 15, 59, 57),  # 02:59:57 AEDT
            utc(2026, 4, 4, 15, 59, 58),
            utc(2026, 4, 4, 15, 59, 59),  # 02:59:59 AEDT
            utc(2026, 4, 4, 16, 0, 0),  # 02:00:00 AEST
            utc(2026, 4, 4, 16, 0, 1),
            utc(2026, 4, 4, 16, 0, 2),
            utc(2026, 4, 4, 16, 0, 3),
        ],
        id="sydney-april-every-second",
    ),
    # ---- Australia/Sydney, DST starts 2026-10-04 (02:00 AEST -> 03:00 AEDT)
    pytest.param(
        SYDNEY,
        "30 2 * * *",
        utc(2026, 10, 1),
        [
            utc(2026, 10, 1, 16, 30),  # 10-02 02:30 AEST
            utc(2026, 10, 2, 16, 30),  # 10-03 02:30 AEST
            utc(2026, 10, 3, 16, 30),  # 10-04 02:30 missing -> 03:30 AEDT
            utc(2026, 10, 4, 15, 30),  # 10-05 02:30 AEDT
            utc(2026, 10, 5, 15, 30),  # 10-06 02:30 AEDT
        ],
        id="sydney-october-daily-0230",
    ),
    pytest.param(
        SYDNEY,
        "0 * * * *",
        utc(2026, 10, 3, 12, 30),
        [
            utc(2026, 10, 3, 13),  # 10-03 23:00 AEST
            utc(2026, 10, 3, 14),  # 10-04 00:00 AEST
            utc(2026, 10, 3, 15),  # 01:00 AEST
            utc(2026, 10, 3, 16),  # 02:00 missing -> 03:00 AEDT == the 03:00 fire, once
            utc(2026, 10, 3, 17),  # 04:00 AEDT
            utc(2026, 10, 3, 18),  # 05:00 AEDT
        ],
        id="sydney-october-hourly",
    ),
    pytest.param(
        SYDNEY,
        "*/15 * * * *",
        utc(2026, 10, 3, 15, 10),
        [
            utc(2026, 10, 3, 15, 15),  # 01:15 AEST
            utc(2026, 10, 3, 15, 30),
            utc(2026, 10, 3, 15, 45),  # 01:45 AEST
            utc(2026, 10, 3, 16, 0),  # 03:00 AEDT
            utc(2026, 10, 3, 16, 15),  # 03:15 AEDT
            utc(2026, 10, 3, 16, 30),
            utc(2026, 10, 3, 16, 45),
            utc(2026, 10, 3, 17, 0),
        ],
        id="sydney-october-every-15-min",
    ),
    pytest.param(
        SYDNEY,
        "* * * * * *",
        utc(2026, 10, 3, 15, 59, 56),
        [
            utc(2026, 10, 3, 15, 59, 57),  # 01:59:57 AEST
            utc(2026, 10, 3, 15, 59, 58),
            utc(2026, 10, 3, 15, 59, 59),  # 01:59:59 AEST
            utc(2026, 10, 3, 16, 0, 0),  # 03:00:00 AEDT
            utc(2026, 10, 3, 16, 0, 1),
            utc(2026, 10, 3, 16, 0, 2),
            utc(2026, 10, 3, 16, 0, 3),
        ],
        id="sydney-october-every-second",
    ),
]


@pytest.mark.parametrize(("tz", "expression", "start", "expected"), DST_TABLE)
def test_dst_table(tz: str, expression: str, start: datetime, expected: list[datetime]) -> None:
    check_sequence(expression, tz, start, expected)


MORE_DST_SEQUENCES = [
    # ---- New York spring: a fixed hour inside the gap
    pytest.param(
        NEW_YORK,
        "*/20 2 * * *",
        utc(2026, 3, 8),
        [
            utc(2026, 3, 8, 7, 0),  # 02:00 missing -> 03:00 EDT
            utc(2026, 3, 8, 7, 20),  # 02:20 missing -> 03:20 EDT
            utc(2026, 3, 8, 7, 40),  # 02:40 missing -> 03:40 EDT
            utc(2026, 3, 9, 6, 0),  # 03-09 02:00 EDT
        ],
        id="new-york-spring-every-20-min-of-hour-2",
    ),
    pytest.param(
        NEW_YORK,
        "30 2,3 * * *",
        utc(2026, 3, 8),
        [
            utc(2026, 3, 8, 7, 30),  # 02:30 -> 03:30 EDT, which is also the 03:30 fire: once
            utc(2026, 3, 9, 6, 30),  # 03-09 02:30 EDT
            utc(2026, 3, 9, 7, 30),  # 03-09 03:30 EDT
        ],
        id="new-york-spring-shifted-coincides-with-next-hour",
    ),
    pytest.param(
        NEW_YORK,
        "* * 2 * * *",
        utc(2026, 3, 8, 6, 59, 58),
        [
            utc(2026, 3, 8, 7, 0, 0),  # 02:00:00 missing -> 03:00:00 EDT
            utc(2026, 3, 8, 7, 0, 1),
            utc(2026, 3, 8, 7, 0, 2),
        ],
        id="new-york-spring-every-second-of-hour-2-start",
    ),
    pytest.param(
        NEW_YORK,
        "* * 2 * * *",
        utc(2026, 3, 8, 7, 59, 57),
        [
            utc(2026, 3, 8, 7, 59, 58),  # 02:59:58 missing -> 03:59:58 EDT
            utc(2026, 3, 8, 7, 59, 59),
            utc(2026, 3, 9, 6, 0, 0),  # 03-09 02:00:00 EDT
        ],
        id="new-york-spring-every-second-of-hour-2-end",
    ),
    # ---- New York autumn: fixed (non-wildcard) hours in the repeated hour
    pytest.param(
        NEW_YORK,
        "*/20 1 * * *",
        utc(2026, 11, 1, 4),
        [
            utc(2026, 11, 1, 5, 0),  # 01:00 EDT
            utc(2026, 11, 1, 5, 20),
            utc(2026, 11, 1, 5, 40),  # 01:40 EDT; the EST pass does not fire
            utc(2026, 11, 2, 6, 0),  # 11-02 01:00 EST
        ],
        id="new-york-autumn-every-20-min-of-hour-1",
    ),
    pytest.param(
        NEW_YORK,
        "0 1-3 * * *",
        utc(2026, 11, 1, 4),
        [
            utc(2026, 11, 1, 5),  # 01:00 EDT (a range is not a wildcard: first pass only)
            utc(2026, 11, 1, 7),  # 02:00 EST
            utc(2026, 11, 1, 8),  # 03:00 EST
            utc(2026, 11, 2, 6),  # 11-02 01:00 EST
        ],
        id="new-york-autumn-hour-range",
    ),
    pytest.param(
        NEW_YORK,
        "* * 1 * * *",
        utc(2026, 11, 1, 5, 59, 57),
        [
            utc(2026, 11, 1, 5, 59, 58),  # 01:59:58 EDT
            utc(2026, 11, 1, 5, 59, 59),  # 01:59:59 EDT; the EST pass does not fire
            utc(2026, 11, 2, 6, 0, 0),  # 11-02 01:00:00 EST
        ],
        id="new-york-autumn-every-second-of-hour-1",
    ),
    pytest.param(
        NEW_YORK,
        "0 */1 * * *",
        utc(2026, 11, 1, 4, 30),
        [
            utc(2026, 11, 1, 5),  # 01:00 EDT
            utc(2026, 11, 1, 6),  # 01:00 EST (*/n hour is a wildcard)
            utc(2026, 11, 1, 7),  # 02:00 EST
        ],
        id="new-york-autumn-step-hour",
    ),
    pytest.param(
        NEW_YORK,
        "@hourly",
        utc(2026, 11, 1, 3, 30),
        [
            utc(2026, 11, 1, 4),  # 00:00 EDT
            utc(2026, 11, 1, 5),  # 01:00 EDT
            utc(2026, 11, 1, 6),  # 01:00 EST
            utc(2026, 11, 1, 7),  # 02:00 EST
        ],
        id="new-york-autumn-hourly-alias",
    ),
    # ---- Sydney: a */n hour through the fold and the gap
    pytest.param(
        SYDNEY,
        "0 */2 * * *",
        utc(2026, 4, 4, 12, 30),
        [
            utc(2026, 4, 4, 13),  # 04-05 00:00 AEDT
            utc(2026, 4, 4, 15),  # 02:00 AEDT
            utc(2026, 4, 4, 16),  # 02:00 AEST (wildcard hour: both passes)
            utc(2026, 4, 4, 18),  # 04:00 AEST
        ],
        id="sydney-april-every-2-hours",
    ),
    pytest.param(
        SYDNEY,
        "0 */2 * * *",
        utc(2026, 10, 3, 12, 30),
        [
            utc(2026, 10, 3, 14),  # 10-04 00:00 AEST
            utc(2026, 10, 3, 16),  # 02:00 missing -> 03:00 AEDT
            utc(2026, 10, 3, 17),  # 04:00 AEDT
            utc(2026, 10, 3, 19),  # 06:00 AEDT
        ],
        id="sydney-october-every-2-hours",
    ),
    pytest.param(
        SYDNEY,
        "15,45 2 * * *",
        utc(2026, 10, 3, 15, 50),
        [
            utc(2026, 10, 3, 16, 15),  # 02:15 missing -> 03:15 AEDT
            utc(2026, 10, 3, 16, 45),  # 02:45 missing -> 03:45 AEDT
            utc(2026, 10, 4, 15, 15),  # 10-05 02:15 AEDT
        ],
        id="sydney-october-two-minutes-in-gap",
    ),
    # ---- America/Havana: midnight is the missing / repeated hour (aliases are fixed-hour)
    pytest.param(
        HAVANA,
        "@daily",
        utc(2026, 3, 6, 12),
        [
            utc(2026, 3, 7, 5),  # 03-07 00:00 CST
            utc(2026, 3, 8, 5),  # 03-08 00:00 missing -> 01:00 CDT
            utc(2026, 3, 9, 4),  # 03-09 00:00 CDT
        ],
        id="havana-spring-daily",
    ),
    pytest.param(
        HAVANA,
        "@daily",
        utc(2026, 10, 30, 12),
        [
            utc(2026, 10, 31, 4),  # 10-31 00:00 CDT
            utc(2026, 11, 1, 4),  # 11-01 00:00 CDT (first); 00:00 CST skipped
            utc(2026, 11, 2, 5),  # 11-02 00:00 CST
        ],
        id="havana-autumn-daily",
    ),
    pytest.param(
        HAVANA,
        "@midnight",
        utc(2026, 10, 30, 12),
        [utc(2026, 10, 31, 4), utc(2026, 11, 1, 4), utc(2026, 11, 2, 5)],
        id="havana-autumn-midnight",
    ),
    pytest.param(
        HAVANA,
        "@hourly",
        utc(2026, 11, 1, 2, 30),
        [
            utc(2026, 11, 1, 3),  # 23:00 CDT (10-31)
            utc(2026, 11, 1, 4),  # 00:00 CDT
            utc(2026, 11, 1, 5),  # 00:00 CST (second pass)
            utc(2026, 11, 1, 6),  # 01:00 CST
        ],
        id="havana-autumn-hourly",
    ),
    pytest.param(
        HAVANA,
        "@hourly",
        utc(2026, 3, 8, 2, 30),
        [
            utc(2026, 3, 8, 3),  # 22:00 CST (03-07)
            utc(2026, 3, 8, 4),  # 23:00 CST
            utc(2026, 3, 8, 5),  # 00:00 missing -> 01:00 CDT == the 01:00 fire, once
            utc(2026, 3, 8, 6),  # 02:00 CDT
        ],
        id="havana-spring-hourly",
    ),
    # ---- Australia/Lord_Howe: the gap and the fold are 30 minutes
    pytest.param(
        LORD_HOWE,
        "15 2 * * *",
        utc(2026, 10, 2),
        [
            utc(2026, 10, 2, 15, 45),  # 10-03 02:15 +10:30
            utc(2026, 10, 3, 15, 45),  # 10-04 02:15 missing -> +30 min -> 02:45 +11
            utc(2026, 10, 4, 15, 15),  # 10-05 02:15 +11
        ],
        id="lord-howe-october-daily-0215",
    ),
    pytest.param(
        LORD_HOWE,
        "45 1 * * *",
        utc(2026, 4, 3),
        [
            utc(2026, 4, 3, 14, 45),  # 04-04 01:45 +11
            utc(2026, 4, 4, 14, 45),  # 04-05 01:45 +11 (first); 01:45 +10:30 skipped
            utc(2026, 4, 5, 15, 15),  # 04-06 01:45 +10:30
        ],
        id="lord-howe-april-daily-0145",
    ),
    # ---- Antarctica/Troll: a 2-hour gap and a 2-hour fold
    pytest.param(
        TROLL,
        "30 1 * * *",
        utc(2026, 3, 27, 12),
        [
            utc(2026, 3, 28, 1, 30),  # 03-28 01:30 +00
            utc(2026, 3, 29, 1, 30),  # 03-29 01:30 missing -> +2 h -> 03:30 +02
            utc(2026, 3, 29, 23, 30),  # 03-30 01:30 +02
        ],
        id="troll-spring-daily-0130",
    ),
    pytest.param(
        TROLL,
        "30 2 * * *",
        utc(2026, 3, 27, 12),
        [
            utc(2026, 3, 28, 2, 30),  # 03-28 02:30 +00
            utc(2026, 3, 29, 2, 30),  # 03-29 02:30 missing -> +2 h -> 04:30 +02
            utc(2026, 3, 30, 0, 30),  # 03-30 02:30 +02
        ],
        id="troll-spring-daily-0230",
    ),
    pytest.param(
        TROLL,
        "0 * * * *",
        utc(2026, 3, 28, 23, 30),
        [
            utc(2026, 3, 29, 0),  # 00:00 +00
            utc(2026, 3, 29, 1),  # 01:00 missing -> 03:00 +02 == the 03:00 fire
            utc(2026, 3, 29, 2),  # 02:00 missing -> 04:00 +02 == the 04:00 fire
            utc(2026, 3, 29, 3),  # 05:00 +02
        ],
        id="troll-spring-hourly",
    ),
    pytest.param(
        TROLL,
        "30 1 * * *",
        utc(2026, 10, 23, 12),
        [
            utc(2026, 10, 23, 23, 30),  # 10-24 01:30 +02
            utc(2026, 10, 24, 23, 30),  # 10-25 01:30 +02 (first); 01:30 +00 skipped
            utc(2026, 10, 26, 1, 30),  # 10-26 01:30 +00
        ],
        id="troll-autumn-daily-0130",
    ),
    pytest.param(
        TROLL,
        "30 2 * * *",
        utc(2026, 10, 23, 12),
        [
            utc(2026, 10, 24, 0, 30),  # 10-24 02:30 +02
            utc(2026, 10, 25, 0, 30),  # 10-25 02:30 +02 (first); 02:30 +00 skipped
            utc(2026, 10, 26, 2, 30),  # 10-26 02:30 +00
        ],
        id="troll-autumn-daily-0230",
    ),
    pytest.param(
        TROLL,
        "0 * * * *",
        utc(2026, 10, 24, 21, 30),
        [
            utc(2026, 10, 24, 22),  # 10-25 00:00 +02
            utc(2026, 10, 24, 23),  # 01:00 +02
            utc(2026, 10, 25, 0),  # 02:00 +02
            utc(2026, 10, 25, 1),  # 01:00 +00 (second pass)
            utc(2026, 10, 25, 2),  # 02:00 +00 (second pass)
            utc(2026, 10, 25, 3),  # 03:00 +00
        ],
        id="troll-autumn-hourly",
    ),
    # ---- rare dates: the transition found after long jumps
    pytest.param(
        NEW_YORK,
        "30 2 8 3 *",
        utc(2026, 1, 1),
        [
            utc(2026, 3, 8, 7, 30),  # 2026-03-08 is the gap day: 02:30 -> 03:30 EDT
            utc(2027, 3, 8, 7, 30),  # EST (2027 DST starts 03-14)
            utc(2028, 3, 8, 7, 30),  # EST (2028 DST starts 03-12)
        ],
        id="new-york-march-8-in-gap",
    ),
    pytest.param(
        NEW_YORK,
        "0 2 * * 0",
        utc(2026, 3, 1),
        [
            utc(2026, 3, 1, 7),  # Sunday 02:00 EST
            utc(2026, 3, 8, 7),  # Sunday 02:00 missing -> 03:00 EDT
            utc(2026, 3, 15, 6),  # Sunday 02:00 EDT
        ],
        id="new-york-sundays-0200",
    ),
    pytest.param(
        NEW_YORK,
        "30 1 1 11 *",
        utc(2026, 6, 1),
        [
            utc(2026, 11, 1, 5, 30),  # the fold day: first 01:30 (EDT)
            utc(2027, 11, 1, 5, 30),  # EDT (2027 DST ends 11-07)
        ],
        id="new-york-november-1-in-fold",
    ),
    pytest.param(
        NEW_YORK,
        "0 0 29 2 *",
        utc(2026, 1, 1),
        [utc(2028, 2, 29, 5), utc(2032, 2, 29, 5)],  # midnight EST
        id="new-york-feb-29",
    ),
    pytest.param(
        SYDNEY,
        "0 0 29 2 *",
        utc(2026, 1, 1),
        [utc(2028, 2, 28, 13), utc(2032, 2, 28, 13)],  # midnight AEDT
        id="sydney-feb-29",
    ),
    pytest.param(
        SYDNEY,
        "30 2 * * sun",
        utc(2028, 3, 27),
        [
            utc(2028, 4, 1, 15, 30),  # Sunday 2028-04-02 02:30 AEDT (first pass)
            utc(2028, 4, 8, 16, 30),  # Sunday 04-09 02:30 AEST
        ],
        id="sydney-sundays-april-2028",
    ),
    pytest.param(
        SYDNEY,
        "30 2 * * sun",
        utc(2028, 9, 20),
        [
            utc(2028, 9, 23, 16, 30),  # Sunday 09-24 02:30 AEST
            utc(2028, 9, 30, 16, 30),  # Sunday 10-01 02:30 missing -> 03:30 AEDT
            utc(2028, 10, 7, 15, 30),  # Sunday 10-08 02:30 AEDT
        ],
        id="sydney-sundays-october-2028",
    ),
]


@pytest.mark.parametrize(("tz", "expression", "start", "expected"), MORE_DST_SEQUENCES)
def test_more_dst_sequences(
    tz: str, expression: str, start: datetime, expected: list[datetime]
) -> None:
    check_sequence(expression, tz, start, expected)


@pytest.mark.parametrize(
    ("tz", "expression", "start", "end", "count", "step"),
    [
        (NEW_YORK, "0 * * * *", utc(2026, 3, 8), utc(2026, 3, 9), 23, H),
        (NEW_YORK, "0 * * * *", utc(2026, 11, 1), utc(2026, 11, 2), 23, H),
        (SYDNEY, "*/15 * * * *", utc(2026, 4, 4), utc(2026, 4, 5), 95, timedelta(minutes=15)),
        (SYDNEY, "*/15 * * * *", utc(2026, 10, 3), utc(2026, 10, 4), 95, timedelta(minutes=15)),
        (
            NEW_YORK,
            "* * * * * *",
            utc(2026, 11, 1, 5, 59),
            utc(2026, 11, 1, 6, 1),
            119,
            timedelta(seconds=1),
        ),
        (
            SYDNEY,
            "* * * * * *",
            utc(2026, 10, 3, 15, 59),
            utc(2026, 10, 3, 16, 1),
            119,
            timedelta(seconds=1),
        ),
    ],
    ids=[
        "new-york-spring-hourly",
        "new-york-autumn-hourly",
        "sydney-april-every-15-min",
        "sydney-october-every-15-min",
        "new-york-autumn-every-second",
        "sydney-october-every-second",
    ],
)
def test_wildcard_hour_follows_real_time(
    tz: str,
    expression: str,
    start: datetime,
    end: datetime,
    count: int,
    step: timedelta,
) -> None:
    """Across a whole transition, wildcard-hour crons fire at an even real-time pace:
    none missing, none doubled (both ends are slots, and excluded)."""
    slots = list(Cron.parse(expression, tz).slots_between(start, end))
    assert len(slots) == count
    assert slots[0] == start + step
    assert slots[-1] == end - step
    assert all(b - a == step for a, b in itertools.pairwise(slots))


# ---------------------------------------------------------------- next_after inside gap/fold


@pytest.mark.parametrize(
    ("tz", "expression", "after", "expected"),
    [
        # New York gap (03-08, 02:xx local = 07:xx UTC once shifted)
        pytest.param(
            NEW_YORK,
            "15,45 2 * * *",
            utc(2026, 3, 8, 7, 0),
            utc(2026, 3, 8, 7, 15),
            id="ny-gap-before-first-shifted",
        ),
        pytest.param(
            NEW_YORK,
            "15,45 2 * * *",
            utc(2026, 3, 8, 7, 15),
            utc(2026, 3, 8, 7, 45),
            id="ny-gap-between-shifted",
        ),
        pytest.param(
            NEW_YORK,
            "15,45 2 * * *",
            utc(2026, 3, 8, 7, 45),
            utc(2026, 3, 9, 6, 15),
            id="ny-gap-after-last-shifted",
        ),
        pytest.param(
            NEW_YORK,
            "15,45 2 * * *",
            utc(2026, 3, 8, 6, 30),  # 01:30 EST
            utc(2026, 3, 8, 7, 15),
            id="ny-gap-from-before-transition",
        ),
        pytest.param(
            NEW_YORK,
            "30 2 * * *",
            utc(2026, 3, 8, 7, 15),  # 03:15 EDT
            utc(2026, 3, 8, 7, 30),
            id="ny-gap-daily-from-inside-shifted-window",
        ),
        pytest.param(
            NEW_YORK,
            "30 2 * * *",
            utc(2026, 3, 8, 7, 30),
            utc(2026, 3, 9, 6, 30),
            id="ny-gap-daily-from-shifted-slot",
        ),
        pytest.param(
            NEW_YORK,
            "* * 2 * * *",
            utc(2026, 3, 8, 6, 59, 59),  # 01:59:59 EST
            utc(2026, 3, 8, 7, 0, 0),
            id="ny-gap-every-second-of-hour-2",
        ),
        # New York fold (11-01, 01:xx EDT = 05:xx UTC, 01:xx EST = 06:xx UTC)
        pytest.param(
            NEW_YORK,
            "0 * * * *",
            utc(2026, 11, 1, 5, 30),  # 01:30 EDT
            utc(2026, 11, 1, 6),  # 01:00 EST
            id="ny-fold-hourly-from-first-pass",
        ),
        pytest.param(
            NEW_YORK,
            "0 * * * *",
            utc(2026, 11, 1, 6),  # 01:00 EST
            utc(2026, 11, 1, 7),
            id="ny-fold-hourly-from-second-pass-slot",
        ),
        pytest.param(
            NEW_YORK,
            "0 * * * *",
            utc(2026, 11, 1, 6, 30),  # 01:30 EST
            utc(2026, 11, 1, 7),
            id="ny-fold-hourly-from-second-pass",
        ),
        pytest.param(
            NEW_YORK,
            "30 1 * * *",
            utc(2026, 11, 1, 5, 29, 59),
            utc(2026, 11, 1, 5, 30),
            id="ny-fold-daily-just-before-first",
        ),
        pytest.param(
            NEW_YORK,
            "30 1 * * *",
            utc(2026, 11, 1, 5, 30),  # the first 01:30
            utc(2026, 11, 2, 6, 30),  # not 06:30 on 11-01 (the second 01:30)
            id="ny-fold-daily-from-first-slot",
        ),
        pytest.param(
            NEW_YORK,
            "30 1 * * *",
            utc(2026, 11, 1, 5, 45),  # 01:45 EDT
            utc(2026, 11, 2, 6, 30),
            id="ny-fold-daily-from-first-pass",
        ),
        pytest.param(
            NEW_YORK,
            "30 1 * * *",
            utc(2026, 11, 1, 6),  # 01:00 EST, before the second 01:30
            utc(2026, 11, 2, 6, 30),
            id="ny-fold-daily-from-second-pass-start",
        ),
        pytest.param(
            NEW_YORK,
            "30 1 * * *",
            utc(2026, 11, 1, 6, 29, 59),
            utc(2026, 11, 2, 6, 30),
            id="ny-fold-daily-just-before-second-occurrence",
        ),
        pytest.param(
            NEW_YORK,
            "*/15 * * * *",
            utc(2026, 11, 1, 5, 50),  # 01:50 EDT
            utc(2026, 11, 1, 6, 0),  # 01:00 EST
            id="ny-fold-every-15-min-crossing",
        ),
        pytest.param(
            NEW_YORK,
            "* * * * * *",
            utc(2026, 11, 1, 5, 59, 59, 500000),
            utc(2026, 11, 1, 6, 0, 0),
            id="ny-fold-every-second-crossing",
        ),
        # Sydney fold (04-05, 02:xx AEDT = 15:xx UTC, 02:xx AEST = 16:xx UTC)
        pytest.param(
            SYDNEY,
            "30 2 * * *",
            utc(2026, 4, 4, 15, 15),  # 02:15 AEDT
            utc(2026, 4, 4, 15, 30),
            id="sydney-fold-daily-first-pass-before",
        ),
        pytest.param(
            SYDNEY,
            "30 2 * * *",
            utc(2026, 4, 4, 15, 45),  # 02:45 AEDT
            utc(2026, 4, 5, 16, 30),
            id="sydney-fold-daily-first-pass-after",
        ),
        pytest.param(
            SYDNEY,
            "30 2 * * *",
            utc(2026, 4, 4, 16, 15),  # 02:15 AEST
            utc(2026, 4, 5, 16, 30),
            id="sydney-fold-daily-second-pass",
        ),
        pytest.param(
            SYDNEY,
            "0 * * * *",
            utc(2026, 4, 4, 15, 30),  # 02:30 AEDT
            utc(2026, 4, 4, 16),  # 02:00 AEST
            id="sydney-fold-hourly-first-pass",
        ),
        # Sydney gap (10-04, 02:xx local shifted to 03:xx AEDT = 16:xx UTC)
        pytest.param(
            SYDNEY,
            "30 2 * * *",
            utc(2026, 10, 3, 16),  # 03:00 AEDT
            utc(2026, 10, 3, 16, 30),
            id="sydney-gap-daily-from-transition",
        ),
        pytest.param(
            SYDNEY,
            "30 2 * * *",
            utc(2026, 10, 3, 16, 15),  # 03:15 AEDT
            utc(2026, 10, 3, 16, 30),
            id="sydney-gap-daily-from-inside-shifted-window",
        ),
        pytest.param(
            SYDNEY,
            "30 2 * * *",
            utc(2026, 10, 3, 16, 30),
            utc(2026, 10, 4, 15, 30),
            id="sydney-gap-daily-from-shifted-slot",
        ),
    ],
)
def test_next_after_around_transitions(
    tz: str, expression: str, after: datetime, expected: datetime
) -> None:
    got = Cron.parse(expression, tz).next_after(after)
    assert got == expected
    assert got.tzinfo is UTC


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("0 * * * *", datetime(2026, 11, 1, 1, 30, fold=0), utc(2026, 11, 1, 6)),
        ("0 * * * *", datetime(2026, 11, 1, 1, 30, fold=1), utc(2026, 11, 1, 7)),
        ("30 1 * * *", datetime(2026, 11, 1, 1, 0, fold=0), utc(2026, 11, 1, 5, 30)),
        ("30 1 * * *", datetime(2026, 11, 1, 1, 0, fold=1), utc(2026, 11, 2, 6, 30)),
    ],
    ids=["hourly-fold-0", "hourly-fold-1", "daily-fold-0", "daily-fold-1"],
)
def test_next_after_honours_fold_of_local_after(
    expression: str, after: datetime, expected: datetime
) -> None:
    """An ``after`` given as New York wall time picks its pass by ``fold``
    (fold=0: 01:30 EDT = 05:30 UTC; fold=1: 01:30 EST = 06:30 UTC)."""
    after = after.replace(tzinfo=ZoneInfo(NEW_YORK))
    got = Cron.parse(expression, NEW_YORK).next_after(after)
    assert got == expected
    assert got.tzinfo is UTC


@pytest.mark.parametrize(
    ("tz", "instant", "wall", "offset_hours"),
    [
        (NEW_YORK, utc(2026, 3, 8, 7, 30), datetime(2026, 3, 8, 3, 30), -4),
        (NEW_YORK, utc(2026, 3, 8, 6, 59, 59), datetime(2026, 3, 8, 1, 59, 59), -5),
        (NEW_YORK, utc(2026, 11, 1, 5), datetime(2026, 11, 1, 1, 0), -4),
        (NEW_YORK, utc(2026, 11, 1, 6), datetime(2026, 11, 1, 1, 0), -5),
        (NEW_YORK, utc(2026, 11, 1, 6, 45), datetime(2026, 11, 1, 1, 45), -5),
        (SYDNEY, utc(2026, 4, 4, 15, 30), datetime(2026, 4, 5, 2, 30), 11),
        (SYDNEY, utc(2026, 4, 4, 16), datetime(2026, 4, 5, 2, 0), 10),
        (SYDNEY, utc(2026, 10, 3, 16, 30), datetime(2026, 10, 4, 3, 30), 11),
        (LORD_HOWE, utc(2026, 10, 3, 15, 45), datetime(2026, 10, 4, 2, 45), 11),
        (TOKYO, utc(2026, 6, 30, 15), datetime(2026, 7, 1, 0, 0), 9),
    ],
    ids=[
        "ny-shifted-0330-edt",
        "ny-last-second-est",
        "ny-first-pass-0100-edt",
        "ny-second-pass-0100-est",
        "ny-second-pass-0145-est",
        "sydney-first-pass-0230-aedt",
        "sydney-second-pass-0200-aest",
        "sydney-shifted-0330-aedt",
        "lord-howe-shifted-0245",
        "tokyo",
    ],
)
def test_local(tz: str, instant: datetime, wall: datetime, offset_hours: int) -> None:
    cron = Cron.parse("0 * * * *", tz)
    local = cron.local(instant)
    assert local.replace(tzinfo=None) == wall
    assert local.utcoffset() == timedelta(hours=offset_hours)
    assert local.tzinfo == ZoneInfo(tz)
    # Not ``local == instant``: an inter-zone == is always False for a time in a fold (PEP 495).
    assert local.astimezone(UTC) == instant


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        # 2011-12-30 12:00 local does not exist; shifted by the 24-hour gap it is
        # 2011-12-31 12:00 +14 = 2011-12-30 22:00 UTC.
        ("0 12 30 12 *", utc(2011, 12, 29), utc(2011, 12, 30, 22)),
        ("0 12 30 12 *", utc(2011, 12, 30, 10), utc(2011, 12, 30, 22)),
        ("0 12 30 12 *", utc(2011, 12, 30, 20), utc(2011, 12, 30, 22)),
        # The next 12-30 12:00 exists: +14 in 2012 = 2012-12-29 22:00 UTC.
        ("0 12 30 12 *", utc(2011, 12, 30, 22), utc(2012, 12, 29, 22)),
        # Every 12-30 time is shifted onto the same 12-31 time: one fire each.
        ("0 12 * * *", utc(2011, 12, 30, 20), utc(2011, 12, 30, 22)),
        ("0 12 * * *", utc(2011, 12, 30, 22), utc(2011, 12, 31, 22)),
    ],
    ids=[
        "dec-30-from-day-before",
        "dec-30-from-transition",
        "dec-30-from-10h-after-transition",
        "dec-30-next-year",
        "daily-from-10h-after-transition",
        "daily-after-merged-fire",
    ],
)
def test_apia_skipped_day(expression: str, after: datetime, expected: datetime) -> None:
    """Pacific/Apia skipped 2011-12-30: a 24-hour gap (far longer than any DST shift)."""
    assert Cron.parse(expression, APIA).next_after(after) == expected


# ---------------------------------------------------------------- basic semantics


@pytest.mark.parametrize(
    ("tz", "expression", "start", "expected"),
    [
        pytest.param(
            None,
            "*/5 * * * *",
            utc(2026, 1, 1),
            [utc(2026, 1, 1, 0, 5), utc(2026, 1, 1, 0, 10), utc(2026, 1, 1, 0, 15)],
            id="minute-step",
        ),
        pytest.param(
            None,
            "5,10 * * * *",
            utc(2026, 1, 1, 0, 7),
            [utc(2026, 1, 1, 0, 10), utc(2026, 1, 1, 1, 5), utc(2026, 1, 1, 1, 10)],
            id="minute-list",
        ),
        pytest.param(
            None,
            "0 8-18/2 * * 1-5",
            utc(2026, 1, 2, 17),  # Friday
            [utc(2026, 1, 2, 18), utc(2026, 1, 5, 8), utc(2026, 1, 5, 10)],
            id="range-step-weekdays",
        ),
        pytest.param(
            None,
            "0 9 * JAN,JUL mon-fri",
            utc(2026, 1, 30, 10),  # Friday; 01-31 is a Saturday
            [
                utc(2026, 7, 1, 9),  # Wednesday
                utc(2026, 7, 2, 9),
                utc(2026, 7, 3, 9),  # Friday
                utc(2026, 7, 6, 9),  # Monday
            ],
            id="month-and-day-names",
        ),
        pytest.param(
            None,
            "0 12 * jan-feb sun",
            utc(2026, 2, 22, 12),  # the last Sunday of February 2026, on the slot
            [utc(2027, 1, 3, 12), utc(2027, 1, 10, 12)],
            id="name-range-lowercase",
        ),
        pytest.param(
            None,
            "0 0 * * 0",
            utc(2026, 1, 1),  # Thursday
            [utc(2026, 1, 4), utc(2026, 1, 11)],
            id="dow-0-sunday",
        ),
        pytest.param(
            None,
            "0 0 * * 7",
            utc(2026, 1, 1),
            [utc(2026, 1, 4), utc(2026, 1, 11)],
            id="dow-7-sunday",
        ),
        pytest.param(
            None,
            "0 0 28-31 * *",
            utc(2026, 2, 1),
            [
                utc(2026, 2, 28),
                utc(2026, 3, 28),
                utc(2026, 3, 29),
                utc(2026, 3, 30),
                utc(2026, 3, 31),
                utc(2026, 4, 28),
            ],
            id="dom-28-31",
        ),
        pytest.param(
            None,
            "0 0 29 2 *",
            utc(2026, 1, 1),
            [utc(2028, 2, 29), utc(2032, 2, 29)],
            id="feb-29",
        ),
        pytest.param(
            None, "@yearly", utc(2026, 1, 1), [utc(2027, 1, 1), utc(2028, 1, 1)], id="yearly"
        ),
        pytest.param(
            None,
            "@annually",
            utc(2026, 1, 1),
            [utc(2027, 1, 1), utc(2028, 1, 1)],
            id="annually",
        ),
        pytest.param(
            None, "@monthly", utc(2026, 1, 15), [utc(2026, 2, 1), utc(2026, 3, 1)], id="monthly"
        ),
        pytest.param(
            None, "@weekly", utc(2026, 1, 1), [utc(2026, 1, 4), utc(2026, 1, 11)], id="weekly"
        ),
        pytest.param(
            None, "@daily", utc(2026, 1, 1, 12), [utc(2026, 1, 2), utc(2026, 1, 3)], id="daily"
        ),
        pytest.param(
            None,
            "@midnight",
            utc(2026, 1, 1, 12),
            [utc(2026, 1, 2), utc(2026, 1, 3)],
            id="midnight",
        ),
        pytest.param(
            None,
            "@hourly",
            utc(2026, 1, 1, 10, 30),
            [utc(2026, 1, 1, 11), utc(2026, 1, 1, 12)],
            id="hourly",
        ),
        pytest.param(
            None,
            "*/30 * * * * *",
            utc(2026, 1, 1, 12, 0, 10),
            [utc(2026, 1, 1, 12, 0, 30), utc(2026, 1, 1, 12, 1), utc(2026, 1, 1, 12, 1, 30)],
            id="seconds-step",
        ),
        pytest.param(
            None,
            "5 10 * * * *",  # second 5, minute 10, every hour (seconds first, not last)
            utc(2026, 1, 1),
            [utc(2026, 1, 1, 0, 10, 5), utc(2026, 1, 1, 1, 10, 5), utc(2026, 1, 1, 2, 10, 5)],
            id="seconds-first",
        ),
        pytest.param(
            None,
            "15 30 9 * * *",
            utc(2026, 1, 1),
            [utc(2026, 1, 1, 9, 30, 15), utc(2026, 1, 2, 9, 30, 15)],
            id="seconds-first-daily",
        ),
        pytest.param(
            None,
            "0 0 12 * * SUN",
            utc(2026, 1, 1),
            [utc(2026, 1, 4, 12), utc(2026, 1, 11, 12)],
            id="seconds-first-day-name",
        ),
        pytest.param(
            None,
            "* * * * * *",
            utc(2026, 1, 1, 23, 59, 58),
            [utc(2026, 1, 1, 23, 59, 59), utc(2026, 1, 2), utc(2026, 1, 2, 0, 0, 1)],
            id="every-second",
        ),
        pytest.param(
            "UTC",
            "0 0 1 * *",
            utc(2026, 1, 15),
            [utc(2026, 2, 1), utc(2026, 3, 1)],
            id="explicit-utc",
        ),
        pytest.param(
            TOKYO,
            "0 9 * * *",
            utc(2026, 6, 15),  # exactly 09:00 JST
            [utc(2026, 6, 16), utc(2026, 6, 17)],
            id="tokyo-daily-0900",
        ),
        pytest.param(
            TOKYO,
            "0 0 1 * *",
            utc(2026, 6, 15),
            [utc(2026, 6, 30, 15), utc(2026, 7, 31, 15)],
            id="tokyo-first-of-month",
        ),
        pytest.param(
            TOKYO,
            "30 8 * * mon-fri",
            utc(2026, 6, 19),  # Friday 09:00 JST
            [utc(2026, 6, 21, 23, 30), utc(2026, 6, 22, 23, 30)],  # Mon, Tue 08:30 JST
            id="tokyo-weekdays",
        ),
        pytest.param(
            TOKYO,
            "30 0 9 * * *",
            utc(2026, 6, 15),
            [utc(2026, 6, 15, 0, 0, 30), utc(2026, 6, 16, 0, 0, 30)],
            id="tokyo-seconds-first",
        ),
        pytest.param(
            TOKYO,
            "@daily",
            utc(2026, 6, 15),
            [utc(2026, 6, 15, 15), utc(2026, 6, 16, 15)],
            id="tokyo-daily-alias",
        ),
    ],
)
def test_basic_schedules(
    tz: str | None, expression: str, start: datetime, expected: list[datetime]
) -> None:
    check_sequence(expression, tz, start, expected)


def test_parse_attributes() -> None:
    cron = Cron.parse("  */5 * * * *\n")
    assert cron.expression == "*/5 * * * *"
    assert cron.timezone == "UTC"
    assert isinstance(cron.tzinfo, ZoneInfo)
    assert cron.tzinfo.key == "UTC"
    assert cron.has_seconds is False

    cron = Cron.parse("\t*/30 * * * * * ", NEW_YORK)
    assert cron.expression == "*/30 * * * * *"
    assert cron.timezone == NEW_YORK
    assert cron.tzinfo == ZoneInfo(NEW_YORK)
    assert cron.has_seconds is True

    assert Cron.parse("@daily", TOKYO).has_seconds is False
    assert Cron.parse("@daily", TOKYO).expression == "@daily"
    assert Cron.parse("0 9 * * *", "UTC").timezone == "UTC"


def test_surrounding_whitespace_does_not_change_the_schedule() -> None:
    after = utc(2026, 1, 1, 0, 7)
    assert Cron.parse(" \t5,10 * * * * \n").next_after(after) == utc(2026, 1, 1, 0, 10)


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("0 * * * *", utc(2026, 1, 1, 10), utc(2026, 1, 1, 11)),
        ("0 * * * *", utc(2026, 1, 1, 9, 59, 59, 999999), utc(2026, 1, 1, 10)),
        ("0 * * * *", utc(2026, 1, 1, 10, 0, 0, 1), utc(2026, 1, 1, 11)),
        ("* * * * *", utc(2026, 1, 1, 10), utc(2026, 1, 1, 10, 1)),
        ("* * * * *", utc(2026, 1, 1, 10, 0, 30), utc(2026, 1, 1, 10, 1)),
        ("* * * * * *", utc(2026, 1, 1, 10), utc(2026, 1, 1, 10, 0, 1)),
        ("* * * * * *", utc(2026, 1, 1, 10, 0, 0, 500000), utc(2026, 1, 1, 10, 0, 1)),
        ("* * * * * *", utc(2026, 1, 1, 10, 0, 0, 999999), utc(2026, 1, 1, 10, 0, 1)),
        ("*/30 * * * * *", utc(2026, 1, 1, 12, 0, 30), utc(2026, 1, 1, 12, 1)),
        ("@daily", utc(2026, 1, 1), utc(2026, 1, 2)),
    ],
    ids=[
        "on-slot",
        "one-microsecond-before",
        "one-microsecond-after",
        "every-minute-on-slot",
        "every-minute-mid-minute",
        "every-second-on-slot",
        "every-second-half-second",
        "every-second-last-microsecond",
        "every-30-seconds-on-slot",
        "daily-on-slot",
    ],
)
def test_next_after_is_strictly_after(
    expression: str, after: datetime, expected: datetime
) -> None:
    got = Cron.parse(expression).next_after(after)
    assert got == expected
    assert got > after
    assert got.tzinfo is UTC
    assert got.microsecond == 0


@pytest.mark.parametrize(
    ("tz", "expression", "after", "expected"),
    [
        # 2026-01-01 15:30 +05:30 = 10:00 UTC
        (
            None,
            "0 * * * *",
            datetime(2026, 1, 1, 15, 30, tzinfo=timezone(timedelta(hours=5, minutes=30))),
            utc(2026, 1, 1, 11),
        ),
        # 2026-06-15 06:00 EDT = 10:00 UTC
        (
            None,
            "0 * * * *",
            datetime(2026, 6, 15, 6, 0, tzinfo=ZoneInfo(NEW_YORK)),
            utc(2026, 6, 15, 11),
        ),
        # 2026-06-15 18:00 JST = 09:00 UTC; Tokyo cron 09:00 JST daily -> next 06-16 00:00 UTC
        (
            TOKYO,
            "0 9 * * *",
            datetime(2026, 6, 15, 18, 0, tzinfo=ZoneInfo(TOKYO)),
            utc(2026, 6, 16),
        ),
        # 2026-06-14 20:00 EDT = 06-15 00:00 UTC = 09:00 JST, on the slot
        (
            TOKYO,
            "0 9 * * *",
            datetime(2026, 6, 14, 20, 0, tzinfo=ZoneInfo(NEW_YORK)),
            utc(2026, 6, 16),
        ),
        # 2026-06-14 23:59 -00:01 = 06-15 00:00 UTC
        (
            TOKYO,
            "0 9 * * *",
            datetime(2026, 6, 14, 23, 59, 59, tzinfo=timezone(timedelta(seconds=-1))),
            utc(2026, 6, 16),
        ),
    ],
    ids=["fixed-offset", "zoneinfo", "schedule-zone", "other-zone-on-slot", "odd-offset"],
)
def test_after_in_another_timezone(
    tz: str | None, expression: str, after: datetime, expected: datetime
) -> None:
    cron = Cron.parse(expression, tz)
    got = cron.next_after(after)
    assert got == expected
    assert got.tzinfo is UTC
    assert got == cron.next_after(after.astimezone(UTC))


@pytest.mark.parametrize(
    "expression", ["0 * * * *", "* * * * * *", "@daily"], ids=["hourly", "seconds", "daily"]
)
def test_naive_after_raises(expression: str) -> None:
    cron = Cron.parse(expression, NEW_YORK)
    with pytest.raises(ValueError):
        cron.next_after(datetime(2026, 1, 1, 12))


def test_slots_between_excludes_both_ends() -> None:
    cron = Cron.parse("0 * * * *")
    start, end = utc(2026, 1, 1, 10), utc(2026, 1, 1, 13)
    assert list(cron.slots_between(start, end)) == [utc(2026, 1, 1, 11), utc(2026, 1, 1, 12)]
    # Just inside the ends, both ends are slots.
    assert list(
        cron.slots_between(start - timedelta(microseconds=1), end + timedelta(microseconds=1))
    ) == [utc(2026, 1, 1, h) for h in (10, 11, 12, 13)]
    assert list(cron.slots_between(start, start)) == []
    assert list(cron.slots_between(start, start + H)) == []
    assert list(cron.slots_between(end, start)) == []
    assert list(cron.slots_between(utc(2026, 1, 1, 10, 1), utc(2026, 1, 1, 10, 59))) == []


def test_slots_between_accepts_other_timezones() -> None:
    cron = Cron.parse("0 9 * * *", TOKYO)
    new_york = ZoneInfo(NEW_YORK)
    # 06-14 20:00 EDT = 06-15 00:00 UTC (a slot, excluded); 06-17 20:00 EDT = 06-18 00:00 UTC.
    start = datetime(2026, 6, 14, 20, tzinfo=new_york)
    end = datetime(2026, 6, 17, 20, tzinfo=new_york)
    slots = list(cron.slots_between(start, end))
    assert slots == [utc(2026, 6, 16), utc(2026, 6, 17)]
    assert all(slot.tzinfo is UTC for slot in slots)


def test_slots_between_is_lazy() -> None:
    cron = Cron.parse("* * * * * *")
    slots = cron.slots_between(utc(2026, 1, 1), utc(2027, 1, 1))
    assert isinstance(slots, Iterator)
    assert list(itertools.islice(slots, 3)) == [
        utc(2026, 1, 1, 0, 0, 1),
        utc(2026, 1, 1, 0, 0, 2),
        utc(2026, 1, 1, 0, 0, 3),
    ]


@pytest.mark.parametrize(
    "tz",
    [
        "UTC",
        "Europe/Paris",
        "America/New_York",
        "Australia/Lord_Howe",  # 30-minute transitions
        "Pacific/Chatham",  # transitions at 02:45 local
        "Pacific/Apia",  # a skipped day in 2011
        "America/Santiago",  # transitions at midnight
    ],
)
@pytest.mark.parametrize(
    "expression",
    [
        "*/7 * * * *",
        "30 2 * * *",
        "0,30 1-3 * * *",
        "15 */2 * * *",
        "0 0 29 2 *",
        "0 12 * * 1-5",
        "45 1 1 * 0",  # the 1st of the month or a Sunday: croniter's OR of the day fields
        "*/20 59 1 * * *",
    ],
)
def test_slots_between_is_next_after_chained_across_transitions(expression: str, tz: str) -> None:
    """``slots_between`` walks runs of slots without a new croniter per slot; the walk
    must be exactly ``next_after`` chained, through every transition of the windows
    (two days either side of each)."""
    cron = Cron.parse(expression, tz)
    windows = [
        (transition.at - 2 * DAY, transition.at + 2 * DAY)
        for year in (2011, 2026)
        for transition in _transitions_of_year(cron.tzinfo, year)
    ]
    windows.append((utc(2027, 12, 30, 23, 58, 1, 5), utc(2028, 1, 2, 0, 0, 0, 7)))
    for start, end in windows:
        chained = []
        current = cron.next_after(start)
        while current < end:
            chained.append(current)
            current = cron.next_after(current)
        assert list(cron.slots_between(start, end)) == chained, (start, end)


# ---------------------------------------------------------------- invalid input


def test_invalid_schedule_error_type() -> None:
    assert issubclass(InvalidScheduleError, DurableError)
    assert issubclass(InvalidScheduleError, ValueError)


@pytest.mark.parametrize(
    "expression",
    [
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param("* * * *", id="four-fields"),
        pytest.param("*", id="one-field"),
        pytest.param("* * * * * * *", id="seven-fields"),
        pytest.param("61 * * * *", id="minute-61"),
        pytest.param("60 * * * *", id="minute-60"),
        pytest.param("* 24 * * *", id="hour-24"),
        pytest.param("* * 32 * *", id="dom-32"),
        pytest.param("* * 0 * *", id="dom-0"),
        pytest.param("* * * 13 *", id="month-13"),
        pytest.param("* * * 0 *", id="month-0"),
        pytest.param("* * * * 8", id="dow-8"),
        pytest.param("60 * * * * *", id="second-60"),
        pytest.param("-1 * * * *", id="negative"),
        pytest.param("not a cron", id="words"),
        pytest.param("every day", id="two-words"),
        pytest.param("* * * FOO *", id="bad-month-name"),
        pytest.param("* * * * funday", id="bad-day-name"),
        pytest.param("a b c d e", id="letters"),
        pytest.param("@every 5m", id="unknown-alias-every"),
        pytest.param("@fortnightly", id="unknown-alias"),
        pytest.param("@reboot", id="reboot"),
        pytest.param("R * * * *", id="random-minute"),
        pytest.param("0 R * * *", id="random-hour"),
        pytest.param("R R * * *", id="random-minute-hour"),
        pytest.param("R 0 * * * *", id="random-second"),
        pytest.param("H * * * *", id="hash-minute"),
        pytest.param("0 H * * *", id="hash-hour"),
        pytest.param("H/15 * * * *", id="hash-step"),
        pytest.param("H(0-29) * * * *", id="hash-range"),
        pytest.param("0 0 H * *", id="hash-dom"),
        pytest.param("H 0 * * * *", id="hash-second"),
        pytest.param(None, id="none"),
        pytest.param(5, id="int"),
        pytest.param(b"* * * * *", id="bytes"),
        pytest.param(["*", "*", "*", "*", "*"], id="list"),
    ],
)
def test_invalid_schedule(expression: object) -> None:
    with pytest.raises(InvalidScheduleError) as info:
        Cron.parse(expression)  # type: ignore[arg-type]
    exc = info.value
    assert exc.field == "schedule"
    assert isinstance(exc, ValueError)
    assert isinstance(exc, DurableError)
    quoted = repr(expression.strip()) if isinstance(expression, str) else repr(expression)
    assert quoted in str(exc) or repr(expression) in str(exc)


@pytest.mark.parametrize(
    "timezone_name",
    [
        pytest.param("Mars/Olympus", id="unknown"),
        pytest.param("", id="empty"),
        pytest.param("EST5EDT-nope", id="garbage"),
        pytest.param("America/New York", id="space"),
        pytest.param("../../etc/passwd", id="path-traversal"),
        pytest.param("/usr/share/zoneinfo/UTC", id="absolute-path"),
    ],
)
def test_invalid_timezone(timezone_name: str) -> None:
    with pytest.raises(InvalidScheduleError) as info:
        Cron.parse("0 * * * *", timezone_name)
    exc = info.value
    assert exc.field == "cron_timezone"
    assert isinstance(exc, ValueError)
    assert repr(timezone_name) in str(exc)
