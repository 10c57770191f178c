"""The measure filters that pages and the API take from a query string, checked once."""

from datetime import datetime

FILTER_KEYS = ("period_from", "period_to", "site", "channel", "respondent_type", "age_band", "living_alone")
PERIOD_FORMATS = ("%Y-%m", "%Y-%m-%d")


class FilterError(ValueError):
    """A filter value is malformed: `key` names the filter, `value` what was given,
    `expected` what it may be ('period' or 'flag')."""

    def __init__(self, key, value, expected):
        """Keep the filter, the value and what was expected."""
        super().__init__(f"{key}: '{value}' is not a valid {expected}")
        self.key, self.value, self.expected = key, value, expected


def is_period(value):
    """Whether `value` is a YYYY-MM or YYYY-MM-DD date."""
    for fmt in PERIOD_FORMATS:
        try:
            datetime.strptime(value, fmt)
            return True
        except ValueError:
            continue
    return False


def parse_filters(args):
    """The non-empty filters of a mapping (e.g. request.args), checked; raises FilterError."""
    filters = {}
    for key in FILTER_KEYS:
        value = (args.get(key) or "").strip()
        if not value:
            continue
        if key in ("period_from", "period_to") and not is_period(value):
            raise FilterError(key, value, "period")
        if key == "living_alone":
            if value not in ("0", "1"):
                raise FilterError(key, value, "flag")
            value = int(value)
        filters[key] = value
    return filters
