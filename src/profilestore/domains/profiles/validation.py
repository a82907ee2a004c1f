"""Field rules shared by the profiles schemas: timezone, locale, country, preferences."""

from __future__ import annotations

import math
import re
import zoneinfo
from typing import Any

from profilestore.platform.jsonutil import dumps
from profilestore.platform.types import check_json_text

TIMEZONES = frozenset(zoneinfo.available_timezones())

BCP47_PATTERN = (
    r"^[A-Za-z]{2,3}(?:-[A-Za-z]{3}){0,3}"  # ISO 639 language (4-8 letter ones are unassigned)
    r"(?:-[A-Za-z]{4})?"
    r"(?:-(?:[A-Za-z]{2}|[0-9]{3}))?"
    r"(?:-(?:[A-Za-z0-9]{5,8}|[0-9][A-Za-z0-9]{3}))*"
    r"(?:-[0-9A-WY-Za-wy-z](?:-[A-Za-z0-9]{2,8})+)*"
    r"(?:-[xX](?:-[A-Za-z0-9]{1,8})+)?$"
)
_BCP47 = re.compile(BCP47_PATTERN)
USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*$"

# ISO 3166-1 alpha-2, officially assigned codes.
COUNTRIES = frozenset(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ
    BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR
    CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR
    GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU
    ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ
    LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ
    MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF
    PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI
    SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR
    TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
    """.split()  # noqa: SIM905
)

PREFERENCES_MAX_BYTES = 16 * 1024
PREFERENCES_MAX_DEPTH = 8
PREFERENCES_MAX_KEY_LENGTH = 128


def check_timezone(value: str) -> str:
    if value not in TIMEZONES:
        raise ValueError("not an IANA time zone name (e.g. Europe/Berlin)")
    return value


def check_locale(value: str) -> str:
    if len(value) > 35 or not _BCP47.match(value):
        raise ValueError("not a BCP 47 language tag (e.g. en-US)")
    return value


def check_country(value: str) -> str:
    upper = value.upper()
    if upper not in COUNTRIES:
        raise ValueError("not an ISO 3166-1 alpha-2 country code (e.g. DE)")
    return upper


def check_preferences(value: dict[str, Any]) -> dict[str, Any]:
    check_json_text(value)
    depth = _depth(value)
    if depth > PREFERENCES_MAX_DEPTH:
        raise ValueError(f"nested deeper than {PREFERENCES_MAX_DEPTH} levels")
    if len(dumps(value)) > PREFERENCES_MAX_BYTES:
        raise ValueError(f"larger than {PREFERENCES_MAX_BYTES} bytes as JSON")
    return value


def _depth(value: Any, level: int = 1) -> int:
    if level > PREFERENCES_MAX_DEPTH:
        return level
    if isinstance(value, dict):
        for key in value:
            if len(key) > PREFERENCES_MAX_KEY_LENGTH:
                raise ValueError(f"a key is longer than {PREFERENCES_MAX_KEY_LENGTH} characters")
        children = list(value.values())
    elif isinstance(value, list):
        children = value
    else:
        _check_scalar(value)
        return level - 1
    return max((_depth(child, level + 1) for child in children), default=level)


def _check_scalar(value: Any) -> None:
    """Numbers must survive every JSON store: 64-bit integers, finite floats."""
    if isinstance(value, bool):
        return
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        raise ValueError("integers must fit in 64 bits")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("numbers must be finite (no NaN or Infinity)")
