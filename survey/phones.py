"""Phone numbers of households and of poster contacts: check, normalise, mask.

Its own module because both the roster and the links' poster contacts check phones, and
the roster imports links (household links): neither may import the other's helpers.
"""

import re

# A household is called back: an 11-digit mobile (optionally +86), or a landline with its
# area code (010-12345678, 0755 1234567); a bare 7- or 8-digit number cannot be dialled
# from a field worker's mobile outside that city.
MOBILE = re.compile(r"^(?:\+?86)?(1[3-9]\d{9})$")
# Area codes: 010 and 020-029 have three digits, all others four (0755, 0571).
LANDLINE = re.compile(r"^(0[12]\d|0[3-9]\d{2})(\d{7,8})$")


class PhoneError(ValueError):
    """A phone number is neither an 11-digit mobile nor a landline with its area code."""


def check_phone(value):
    """Return a phone number in a standard form (13812345678, 010-12345678) or raise PhoneError."""
    raw = (value or "").strip()
    digits = re.sub(r"[\s()（）-]", "", raw)
    mobile = MOBILE.match(digits)
    if mobile:
        return mobile.group(1)
    landline = LANDLINE.match(digits)
    if landline:
        return f"{landline.group(1)}-{landline.group(2)}"
    if digits.isdigit() and len(digits) in (7, 8):
        raise PhoneError(f"“{mask_phone(raw)}”缺少区号：座机请写成 区号-号码，如 010-12345678")
    raise PhoneError(f"“{mask_phone(raw)}”不是11位手机号，也不是带区号的座机号")


def mask_phone(phone):
    """Mask a phone number: keep the first 3 and last 4 digits (138****1234)."""
    phone = (phone or "").strip()
    if len(phone) <= 7:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]
