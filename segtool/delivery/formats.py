"""One entry per destination: its columns in the documented order and header names, the normalisation of
each, which are hashed, which identifiers make a row usable, how consent applies, and the smallest list
the platform serves. `build` turns a run's members into the rows of that file, with a count per outcome;
`write_csv` writes them.

Ads formats (google_ads, meta, tiktok) leave out people without ads consent, unless consent is ignored on
purpose. E-mail formats (klaviyo, mailchimp) keep everyone and carry the e-mail (and SMS) consent as the
tool's status words, so an opt-out reaches the tool instead of leaving its old "subscribed" in place.

Each member has one outcome, decided in this order: no consent (ads formats); written (a usable identifier:
one of the format's keys complete); invalid e-mail or invalid phone (one was given, could not be used and
nothing else could); no usable identifier. Rows are sorted by their values and exact duplicates written
once, so the same members give the same bytes whatever their order.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Callable

import polars as pl

from ..errors import ConfigError, DataError, Problem, UsageError, did_you_mean, suggest
from ..jobs.output import output_target
from . import normalise as n
from .identity import ROLES, Identity

C = pl.col
OUTCOMES = ("written", "no_identifier", "invalid_email", "invalid_phone", "no_consent")


@dataclass(frozen=True)
class Column:
    """A column of a destination file: its header, the value over the normalised identity (`canonical`),
    whether it is hashed, and the role or consent (`consent.email`) it reads: without that in the identity
    the column is left out."""

    header: str
    value: Callable[[], pl.Expr]
    source: str
    hashed: bool = False


@dataclass(frozen=True)
class Destination:
    name: str
    columns: tuple[Column, ...]
    keys: tuple[tuple[str, ...], ...]  # headers that together identify a person; any one complete suffices
    ads: bool                          # people without ads consent are left out
    minimum: int | None                # the smallest list the platform serves
    docs: str

    def below_minimum(self, rows: int) -> str | None:
        """What to say when a file of `rows` people is smaller than the platform serves (None if it is not)."""
        if self.minimum is None or rows >= self.minimum:
            return None
        return (f"{self.name}: {rows:,} people in the file, fewer than the {self.minimum:,} the platform needs "
                f"before it serves a list ({self.docs})")


def _status(kind: str, identifier: str, words: tuple[str, str, str]) -> Callable[[], pl.Expr]:
    """The consent of `kind` as the tool's words for granted, denied and unknown, where the person has the
    channel's identifier."""
    yes, no, unknown = words
    consent = C(f"consent_{kind}")
    return lambda: pl.when(C(identifier).is_null()).then(None).when(consent).then(pl.lit(yes)) \
        .when(~consent).then(pl.lit(no)).otherwise(pl.lit(unknown))


KLAVIYO_WORDS = ("Subscribed", "Unsubscribed", "Never subscribed")
MAILCHIMP_WORDS = ("subscribed", "unsubscribed", "non-subscribed")

DESTINATIONS = {d.name: d for d in (
    # Customer Match CSV: https://support.google.com/google-ads/answer/7659867 (headers, UTF-8, Country and
    # Zip never hashed); normalisation: https://developers.google.com/data-manager/api/devguides/concepts/formatting
    Destination("google_ads", (
        Column("Email", lambda: n.gmail(C("email")), "email", hashed=True),
        Column("Phone", lambda: C("phone"), "phone", hashed=True),
        Column("First Name", lambda: n.lower(C("first_name")), "first_name", hashed=True),
        Column("Last Name", lambda: n.lower(C("last_name")), "last_name", hashed=True),
        Column("Country", lambda: C("country"), "country"),
        Column("Zip", lambda: n.zip_code(C("zip"), C("country")), "zip"),
    ), (("Email",), ("Phone",), ("First Name", "Last Name", "Country", "Zip")), ads=True, minimum=100,
        docs="https://support.google.com/google-ads/answer/7476585"),
    # Customer list: https://www.facebook.com/business/help/2082575038703844 (headers); normalisation and
    # hashing: https://developers.facebook.com/docs/marketing-api/audiences/guides/custom-audiences
    Destination("meta", (
        Column("email", lambda: C("email"), "email", hashed=True),
        Column("phone", lambda: n.digits(C("phone")), "phone", hashed=True),
        Column("fn", lambda: n.letters(C("first_name")), "first_name", hashed=True),
        Column("ln", lambda: n.letters(C("last_name")), "last_name", hashed=True),
        Column("zip", lambda: n.zip_meta(C("zip"), C("country")), "zip", hashed=True),
        Column("ct", lambda: n.ascii_letters(C("city")), "city", hashed=True),
        Column("st", lambda: n.us_state(C("state"), C("country")), "state", hashed=True),
        Column("country", lambda: C("country").str.to_lowercase(), "country", hashed=True),
        Column("extern_id", lambda: C("external_id"), "external_id"),
        Column("madid", lambda: C("mobile_ad_id").str.to_lowercase(), "mobile_ad_id"),
    ), (("email",), ("phone",), ("madid",), ("extern_id",), ("fn", "ln", "zip")), ads=True, minimum=100,
        docs="https://www.facebook.com/business/help/2082575038703844"),
    # Customer file: https://ads.tiktok.com/help/article/list-of-supported-ids-and-formats-for-a-customer-file
    Destination("tiktok", (
        Column("Email_SHA256", lambda: n.without_tag(C("email")), "email", hashed=True),
        Column("Phone_SHA256", lambda: n.digits(C("phone")), "phone", hashed=True),
        Column("MAID", lambda: C("mobile_ad_id").str.to_lowercase(), "mobile_ad_id"),
    ), (("Email_SHA256",), ("Phone_SHA256",), ("MAID",)), ads=True, minimum=1000,
        docs="https://ads.tiktok.com/help/article/how-to-create-a-custom-audience-with-a-customer-file"),
    # List import: https://help.klaviyo.com/hc/en-us/articles/115005078967 (headers, properties) and
    # https://help.klaviyo.com/hc/en-us/articles/360043841811 (consent columns and their words)
    Destination("klaviyo", (
        Column("Email", lambda: C("email"), "email"),
        Column("Phone Number", lambda: C("phone"), "phone"),
        Column("First Name", lambda: C("first_name"), "first_name"),
        Column("Last Name", lambda: C("last_name"), "last_name"),
        Column("City", lambda: C("city"), "city"),
        Column("Region", lambda: C("state"), "state"),
        Column("Country", lambda: C("country"), "country"),
        Column("Zip Code", lambda: C("zip"), "zip"),
        Column("Email Marketing Consent", _status("email", "email", KLAVIYO_WORDS), "consent.email"),
        Column("SMS Marketing Consent", _status("sms", "phone", KLAVIYO_WORDS), "consent.sms"),
    ), (("Email",), ("Phone Number",)), ads=False, minimum=None,
        docs="https://help.klaviyo.com/hc/en-us/articles/115005078967"),
    # Import file: https://mailchimp.com/help/format-guidelines-for-your-import-file/ (Email Address, phone in
    # E.164, two-letter country codes); statuses: https://mailchimp.com/help/about-your-contacts/
    Destination("mailchimp", (
        Column("Email Address", lambda: C("email"), "email"),
        Column("First Name", lambda: C("first_name"), "first_name"),
        Column("Last Name", lambda: C("last_name"), "last_name"),
        Column("Phone Number", lambda: C("phone"), "phone"),
        Column("Country", lambda: C("country"), "country"),
        Column("Status", _status("email", "email", MAILCHIMP_WORDS), "consent.email"),
    ), (("Email Address",),), ads=False, minimum=None,
        docs="https://mailchimp.com/help/format-guidelines-for-your-import-file/"),
)}


@dataclass(frozen=True)
class Counts:
    """Members by outcome (each member counted once), and the lines of the file (written members less exact
    duplicates: two members with one e-mail address)."""

    written: int = 0
    no_identifier: int = 0
    invalid_email: int = 0
    invalid_phone: int = 0
    no_consent: int = 0
    rows: int = 0
    consent_ignored: bool = False

    @property
    def members(self) -> int:
        return sum(getattr(self, outcome) for outcome in OUTCOMES)

    def to_json(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def destination(name: str) -> Destination:
    if name not in DESTINATIONS:
        close = suggest(name, DESTINATIONS)
        raise UsageError(f"unknown destination format {name!r}{did_you_mean(close)}; use one of "
                         f"{', '.join(DESTINATIONS)}")
    return DESTINATIONS[name]


def canonical(identity: Identity) -> list[pl.Expr]:
    """The identity's columns under their role names, normalised as every format starts from: trimmed text,
    e-mail lower case without white space, phone in E.164, country as ISO-2; whether an e-mail and a phone
    were given at all; each consent as granted (true), denied (false) or unknown (null)."""
    def given(role: str) -> pl.Expr:
        return n.text(C(identity.columns[role])) if role in identity.columns else pl.lit(None, pl.String)

    country = n.country(given("country"))
    normalised = {"country": country}
    if "email" in identity.columns:
        normalised["email"] = n.email(given("email"))
    if "phone" in identity.columns:
        normalised["phone"] = n.e164(given("phone"), pl.coalesce(country, pl.lit(identity.default_region, pl.String)))
    return [C("visitor_id"), *(normalised.get(role, given(role)).alias(role) for role in ROLES),
            given("email").is_not_null().alias("given_email"), given("phone").is_not_null().alias("given_phone"),
            *(identity.consent[kind].value().alias(f"consent_{kind}") if kind in identity.consent
              else pl.lit(None, pl.Boolean).alias(f"consent_{kind}") for kind in ("ads", "email", "sms"))]


def build(members: pl.LazyFrame, profiles: pl.LazyFrame | None, identity: Identity, destination_name: str, *,
          ignore_consent: bool = False) -> tuple[pl.LazyFrame, Counts]:
    """The rows of `destination_name`'s file for `members` (a frame with `visitor_id`), their identifiers
    read from `profiles` as `identity` says, and the count of members per outcome."""
    dest = destination(destination_name)
    columns = _columns(dest, identity, ignore_consent)
    raw = _joined(members, profiles, identity).collect()
    for kind, consent in identity.consent.items():
        consent.check(raw, kind)
    refused = 0
    if dest.ads and not ignore_consent:  # decided first, so only the others' identifiers are normalised
        granted = identity.consent["ads"].value().fill_null(False)
        refused, raw = raw.filter(~granted).height, raw.filter(granted)
    plain = raw.select(canonical(identity)).select(
        *(column.value().alias(column.header) for column in columns), "given_email", "given_phone",
    ).with_columns(_outcome(dest, columns))
    tally = dict(plain.group_by("outcome").len().iter_rows()) | {"no_consent": refused}
    rows = (plain.filter(C("outcome") == "written")
            .select(n.sha256(C(c.header)) if c.hashed else C(c.header) for c in columns).unique())
    rows = rows.sort(rows.columns, nulls_last=True)
    counts = Counts(**{outcome: tally.get(outcome, 0) for outcome in OUTCOMES}, rows=rows.height,
                    consent_ignored=ignore_consent and dest.ads)
    return rows.lazy(), counts


def check(destination_name: str, identity: Identity, profile_columns: list[str] | None, *,
          ignore_consent: bool = False) -> None:
    """Before any data is read: the destination exists, the identity can fill it (a config error), and the
    profiles (their columns; None: no profiles) have every column the identity names (a data error)."""
    _columns(destination(destination_name), identity, ignore_consent)
    _check_profiles(identity, profile_columns)


def _check_profiles(identity: Identity, profile_columns: list[str] | None) -> None:
    have = profile_columns or []
    for role, column in [*identity.columns.items(), *((f"consent.{k}", c.column) for k, c in identity.consent.items())]:
        if column != "visitor_id" and column not in have:
            missing = "which profiles does not have" if profile_columns is not None else "but no profiles are configured"
            raise DataError(f"identity.{role} names column {column!r}, {missing}{did_you_mean(suggest(column, have))}",
                            column=column)


def _columns(dest: Destination, identity: Identity, ignore_consent: bool) -> list[Column]:
    """The destination's columns the identity can fill; a config error where it cannot fill any key, or
    where an ads format has no ads consent to respect and consent is not ignored."""
    named = {*identity.columns, *(f"consent.{kind}" for kind in identity.consent)}
    columns = [c for c in dest.columns if c.source in named]
    headers = {c.header for c in columns}
    problems = []
    if not any(set(key) <= headers for key in dest.keys):
        sources = {c.header: c.source for c in dest.columns}
        needs = " or ".join("+".join(f"identity.{sources[h]}" for h in key) for key in dest.keys)
        problems.append(Problem(None, f"{dest.name} needs {needs} to identify a person", "missing-identity"))
    if dest.ads and not ignore_consent and "ads" not in identity.consent:
        problems.append(Problem(None, f"{dest.name} is an ads audience: name the ads consent column in "
                                      "identity.consent.ads, or ignore consent on purpose", "missing-consent"))
    if problems:
        raise ConfigError(problems)
    return columns


def _joined(members: pl.LazyFrame, profiles: pl.LazyFrame | None, identity: Identity) -> pl.LazyFrame:
    """Each member once, with the profiles columns the identity reads (missing for members without a
    profile); a data error for a column profiles does not have."""
    wanted = [c for c in identity.profile_columns if c != "visitor_id"]
    _check_profiles(identity, profiles.collect_schema().names() if profiles is not None else None)
    ids = members.select(C("visitor_id").cast(pl.String)).unique()
    if not wanted:
        return ids
    return ids.join(profiles.select(C("visitor_id").cast(pl.String), *wanted), on="visitor_id", how="left")


def _outcome(dest: Destination, columns: list[Column]) -> pl.Expr:
    headers = {c.header for c in columns}
    usable = pl.any_horizontal(pl.all_horizontal(C(h).is_not_null() for h in key)
                               for key in dest.keys if set(key) <= headers)
    outcome = pl.when(usable).then(pl.lit("written"))
    for role in ("email", "phone"):
        keyed = [c.header for c in columns if c.source == role and (c.header,) in dest.keys]
        if keyed:
            outcome = outcome.when(C(f"given_{role}") & C(keyed[0]).is_null()).then(pl.lit(f"invalid_{role}"))
    return outcome.otherwise(pl.lit("no_identifier")).alias("outcome")


def write_csv(rows: pl.LazyFrame | pl.DataFrame, path: Path | str) -> None:
    """The rows as the platforms read CSV: UTF-8 without a byte order mark, a header line, commas, `\\n`
    line ends, quotes only around values that need them (a comma, quote or line break), empty for missing;
    written whole or not at all."""
    frame = rows.collect() if isinstance(rows, pl.LazyFrame) else rows
    with output_target(path) as target:
        frame.write_csv(target, include_header=True, separator=",", line_terminator="\n", quote_char='"',
                        quote_style="necessary", null_value="")
