"""survey.localtime: stored UTC times read as local wall-clock time; the zone is checked."""

from datetime import datetime, timezone

import pytest

from survey.localtime import UnknownTimeZone, format_local, to_local, zone_label


@pytest.mark.parametrize("stored", ["2026-03-01T10:10:00+00:00", "2026-03-01T10:10:00Z", "2026-03-01T10:10:00",
                                    "2026-03-01 10:10:00", "2026-03-01T18:10:00+08:00",
                                    datetime(2026, 3, 1, 10, 10, tzinfo=timezone.utc), datetime(2026, 3, 1, 10, 10)])
def test_every_stored_form_of_10_10_utc_is_18_10_in_beijing(stored):
    """ISO text with Z, an offset or none (naive means UTC), and datetimes."""
    assert format_local(stored, "Asia/Shanghai") == "2026-03-01 18:10"
    assert format_local(stored, "UTC") == "2026-03-01 10:10"


def test_to_local_is_aware_in_the_zone_and_crosses_midnight():
    """16:30Z is 00:30 the next day in Beijing: the date changes too."""
    moment = to_local("2026-03-01T16:30:00Z", "Asia/Shanghai")
    assert moment.isoformat() == "2026-03-02T00:30:00+08:00"
    assert to_local(None, "UTC") is None and to_local("", "UTC") is None


def test_none_and_empty_are_empty_and_odd_text_is_kept():
    """A missing time shows nothing; a cell that is not a time is shown as stored."""
    assert format_local(None, "Asia/Shanghai") == ""
    assert format_local("", "Asia/Shanghai") == ""
    assert format_local("yesterday", "Asia/Shanghai") == "yesterday"
    assert format_local("2026-03-01T10:10:00Z", "Asia/Shanghai", "%Y-%m-%d") == "2026-03-01"


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "../etc/passwd", None])
def test_an_unknown_zone_is_refused_by_name(name):
    """The message names the setting and the value."""
    with pytest.raises(UnknownTimeZone, match="FLASK_TIMEZONE"):
        format_local("2026-03-01T10:10:00Z", name)


def test_zone_labels_for_headers():
    """北京时间 for Asia/Shanghai; other zones by their IANA name."""
    assert zone_label("Asia/Shanghai") == "北京时间"
    assert zone_label("Europe/Paris") == "Europe/Paris"


@pytest.mark.parametrize("zone_name", ["Asia/Shanghai", "UTC", "Asia/Kolkata", "America/New_York",
                                       "Australia/Lord_Howe"])
@pytest.mark.parametrize("stored", ["2024-03-10T06:59:59+00:00", "2024-03-10T07:00:00+00:00", "2024-03-10T07:30:15Z",
                                    "2024-11-03T05:59:59", "2024-11-03T06:00:01+00:00", "2024-04-06T15:15:00+00:00",
                                    "2024-12-31T16:00:00+00:00", "not a time", None, ""])
def test_the_export_formatter_agrees_with_format_local(zone_name, stored):
    """The per-hour cache of exports gives format_local's text, across DST changes and odd offsets."""
    from survey.localtime import format_local, local_seconds_formatter

    local = local_seconds_formatter(zone_name)
    assert local(stored) == format_local(stored, zone_name, "%Y-%m-%d %H:%M:%S")
    assert local(stored) == format_local(stored, zone_name, "%Y-%m-%d %H:%M:%S")  # from the cache
