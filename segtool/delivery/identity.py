"""Where a person's identifiers and consents are: profiles columns by role, read from the config's `identity:`.

```yaml
identity:
  email: Email
  phone: Phone
  first_name: First Name
  country: Billing Country
  default_region: NL                 # phones written without a country code, for people without a country
  consent:
    ads: privacy_info.ads_storage    # a column alone reads the common words (below)
    email: {column: Accepts Email Marketing, granted: [yes], denied: [no]}
```

A consent value reads as granted, denied or unknown, compared trimmed and case-blind. Without `granted:`,
`denied:` and `unknown:` the common words apply: Shopify's `yes`/`no`, booleans (`true`/`false`, `1`/`0`),
GA4's `privacy_info.ads_storage` (`Yes`, `No`, `Unset`), consent mode's `granted`/`denied`, and the e-mail
tools' `subscribed`/`unsubscribed`. A missing value is unknown; any other value is a data error naming the
column, so a vocabulary the config does not foresee never reads silently as "no consent".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import ConfigError, DataError, Location, Problem, did_you_mean, suggest

if TYPE_CHECKING:
    import polars as pl

# Canonical identity roles, in the order they are described.
ROLES = ("email", "phone", "first_name", "last_name", "zip", "city", "state", "country", "external_id",
         "mobile_ad_id")
CONSENTS = ("ads", "email", "sms")
KEYS = (*ROLES, "default_region", "consent")
CONSENT_KEYS = ("column", "granted", "denied", "unknown")
GRANTED = ("yes", "y", "true", "t", "1", "granted", "subscribed", "opted_in")
DENIED = ("no", "n", "false", "f", "0", "denied", "unsubscribed", "opted_out")
UNKNOWN = ("", "unset", "unknown", "(not set)", "never subscribed", "non-subscribed")


@dataclass(frozen=True)
class Consent:
    """A consent column and the words that mean granted, denied and unknown (lower case, trimmed)."""

    column: str
    granted: tuple[str, ...] = GRANTED
    denied: tuple[str, ...] = DENIED
    unknown: tuple[str, ...] = UNKNOWN

    def value(self) -> pl.Expr:
        """True where granted, False where denied, null where unknown or missing."""
        import polars as pl

        words = self.words()
        return pl.when(words.is_in(self.granted)).then(True).when(words.is_in(self.denied)).then(False) \
            .otherwise(None).cast(pl.Boolean)

    def words(self) -> pl.Expr:
        import polars as pl

        return pl.col(self.column).cast(pl.String).str.strip_chars().str.to_lowercase()

    def check(self, frame: pl.DataFrame, kind: str) -> None:
        """A data error naming the values of `frame` (the column read as words) that mean nothing known."""
        import polars as pl

        known = (*self.granted, *self.denied, *self.unknown)
        odd = frame.select(self.words().alias("w")).filter(pl.col("w").is_not_null() & ~pl.col("w").is_in(known))
        if odd.height:
            examples = ", ".join(repr(v) for v in odd["w"].unique().sort().head(5).to_list())
            raise DataError(f"the {kind} consent column holds values that read as neither granted, denied nor "
                            f"unknown ({examples}: {odd.height:,} rows); name them in identity.consent.{kind}: "
                            f"{{column: {self.column}, granted: [...], denied: [...], unknown: [...]}}",
                            column=self.column)


@dataclass(frozen=True)
class Identity:
    """Profiles columns by role (`email` -> `Email`), the consent columns by kind (ads, email, sms), and the
    region that phones without a country code are read in when the person has no country."""

    columns: Mapping[str, str] = field(default_factory=dict)
    consent: Mapping[str, Consent] = field(default_factory=dict)
    default_region: str | None = None

    @property
    def profile_columns(self) -> tuple[str, ...]:
        """Every profiles column the identity reads, each once, in role order."""
        return tuple(dict.fromkeys([*self.columns.values(), *(c.column for c in self.consent.values())]))

    def with_defaults(self, defaults: Mapping[str, str]) -> Identity:
        """This identity, with the roles and consents (`consent.ads`) it does not name taken from `defaults`
        (a preset's: role -> profiles column)."""
        columns = {key: column for key, column in defaults.items() if key in ROLES}
        consent = {key.removeprefix("consent."): Consent(column) for key, column in defaults.items()
                   if key.removeprefix("consent.") in CONSENTS and key.startswith("consent.")}
        return Identity({**columns, **self.columns}, {**consent, **self.consent}, self.default_region)

    @classmethod
    def from_mapping(cls, mapping, location_hint: Location | Mapping[str, Location] | None = None) -> Identity:
        """The identity a config block describes, checked; every problem is reported at once, each at the
        position of its key where `location_hint` maps dotted keys (`consent.ads`) to positions, else at
        the block's position (a Location), as a ConfigError."""
        reader = _Reader(location_hint)
        identity = reader.identity(mapping)
        if reader.problems:
            raise ConfigError(reader.problems)
        return identity


@dataclass
class _Reader:
    hint: Location | Mapping[str, Location] | None
    problems: list[Problem] = field(default_factory=list)

    def where(self, path: str) -> Location | None:
        """The position of `identity.consent.ads`: the hint's for `consent.ads`, else its closest parent's."""
        if not isinstance(self.hint, Mapping):
            return self.hint
        path = path.removeprefix("identity").removeprefix(".")
        while path not in self.hint and path:
            path = path.rpartition(".")[0]
        return self.hint.get(path)

    def problem(self, path: str, message: str, code: str = "bad-setting", suggestions=()) -> None:
        self.problems.append(Problem(self.where(path), message, code, tuple(suggestions)))

    def keys(self, mapping, allowed, path: str) -> bool:
        if not isinstance(mapping, Mapping):
            self.problem(path, f"{path} must be a mapping, found {_describe(mapping)}")
            return False
        for key in mapping:
            if key not in allowed:
                close = suggest(str(key), allowed)
                self.problem(f"{path}.{key}", f"unknown {path} key {key!r}{did_you_mean(close)}; allowed: "
                                              f"{', '.join(allowed)}", "unknown-key", close)
        return True

    def identity(self, mapping) -> Identity:
        if not self.keys(mapping, KEYS, "identity"):
            return Identity()
        columns = {role: self.column(mapping[role], f"identity.{role}") for role in ROLES if role in mapping}
        if not columns and not self.problems:
            self.problem("identity", f"identity names no identifier column; name at least one of {', '.join(ROLES)}")
        consent = {}
        if "consent" in mapping and self.keys(mapping["consent"], CONSENTS, "identity.consent"):
            consent = {kind: self.consent(node, f"identity.consent.{kind}")
                       for kind, node in mapping["consent"].items() if kind in CONSENTS}
        region = self.region(mapping["default_region"]) if "default_region" in mapping else None
        return Identity(columns, consent, region)

    def column(self, value, path: str) -> str:
        if not isinstance(value, str) or not value.strip():
            self.problem(path, f"{path} must name a profiles column, found {_describe(value)}")
            return ""
        return value

    def consent(self, value, path: str) -> Consent:
        if not isinstance(value, Mapping):
            return Consent(self.column(value, path))
        if not self.keys(value, CONSENT_KEYS, path):
            return Consent("")
        if "column" not in value:
            self.problem(path, f"{path} needs a column, e.g. {{column: Accepts Email Marketing, granted: [yes]}}")
        column = self.column(value["column"], f"{path}.column") if "column" in value else ""
        words = {key: self.words(value[key], f"{path}.{key}") for key in CONSENT_KEYS[1:] if key in value}
        consent = Consent(column, **words)
        for first, second in (("granted", "denied"), ("granted", "unknown"), ("denied", "unknown")):
            for word in sorted(set(getattr(consent, first)) & set(getattr(consent, second))):
                self.problem(path, f"{path}: {word!r} cannot mean both {first} and {second}")
        return consent

    def words(self, value, path: str) -> tuple[str, ...]:
        items = value if isinstance(value, (list, tuple)) else [value]
        words = []
        for item in items:
            if isinstance(item, bool) or not isinstance(item, (str, int, float)):
                self.problem(path, f"{path} takes values as written in the column, such as [yes, Y], found "
                                   f"{_describe(item)}")
            else:
                words.append(str(item).strip().lower())
        return tuple(dict.fromkeys(words))

    def region(self, value) -> str | None:
        import phonenumbers

        text = value.strip().upper() if isinstance(value, str) else ""
        if text not in phonenumbers.SUPPORTED_REGIONS:
            close = suggest(text, sorted(phonenumbers.SUPPORTED_REGIONS))
            self.problem("identity.default_region", "identity.default_region must be a two-letter country code "
                                                    f"such as NL or US, found {_describe(value)}{did_you_mean(close)}",
                         suggestions=close)
            return None
        return text


def _describe(value) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return "nothing" if value is None or value == "" else repr(value)
