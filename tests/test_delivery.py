"""Destination files (segtool/delivery): each platform's documented normalisation as golden vectors (the
documentation cited next to each), hashes checked against hashlib, consent, counts per outcome, and the
same bytes whatever the order of the input.

Expected files are written out by hand from the documented rules, hashed here with hashlib, so the test
does not share the code under test."""

from __future__ import annotations

import hashlib
import random

import polars as pl
import pytest

from segtool.delivery import formats
from segtool.delivery import normalise as n
from segtool.delivery.identity import Identity
from segtool.errors import ConfigError, DataError, Location, UsageError

# Sources
GOOGLE_FORMATTING = "https://developers.google.com/data-manager/api/devguides/concepts/formatting"
GOOGLE_CSV = "https://support.google.com/google-ads/answer/7659867"
GOOGLE_TEMPLATE = "https://support.google.com/google-ads/answer/7475964"  # its template: zoë,pérez kept
GOOGLE_USER_IDENTIFIER = "https://developers.google.com/google-ads/api/reference/rpc/latest/UserIdentifier"
META_API = "https://developers.facebook.com/docs/marketing-api/audiences/guides/custom-audiences"
META_HELP = "https://www.facebook.com/business/help/2082575038703844"
TIKTOK_IDS = "https://ads.tiktok.com/help/article/list-of-supported-ids-and-formats-for-a-customer-file"
TIKTOK_FILE = "https://ads.tiktok.com/help/article/how-to-create-a-custom-audience-with-a-customer-file"
KLAVIYO_CONSENT = "https://help.klaviyo.com/hc/en-us/articles/360043841811"
KLAVIYO_LIST = "https://help.klaviyo.com/hc/en-us/articles/115005078967"
MAILCHIMP_IMPORT = "https://mailchimp.com/help/format-guidelines-for-your-import-file/"
MAILCHIMP_STATUSES = "https://mailchimp.com/help/about-your-contacts/"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def apply(expr_of, *columns):
    """`expr_of` over a frame of the given columns of text, as a list."""
    frame = pl.DataFrame({f"c{i}": pl.Series(values, dtype=pl.String) for i, values in enumerate(columns)})
    return frame.select(expr_of(*(pl.col(f"c{i}") for i in range(len(columns))))).to_series().to_list()


# --- golden vectors, one function at a time --------------------------------------------------------------

def test_email_is_trimmed_lower_cased_without_spaces_and_missing_where_no_address():
    values = [" John.Doe@Example.COM ", "jo hn@example.com", "bad@", "no-at-sign", "a@b", "a@@b.com", "", "  ", None]
    assert apply(n.email, values) == ["john.doe@example.com", "john@example.com", None, None, None, None, None,
                                      None, None]


@pytest.mark.parametrize("raw, google", [
    ("cloudy.sanfrancisco+shopping@gmail.com", "cloudysanfrancisco@gmail.com"),  # GOOGLE_FORMATTING
    ("user.name+NYC@Example.com", "user.name+nyc@example.com"),                   # GOOGLE_FORMATTING
    ("J.Doe+News@GoogleMail.com", "jdoe@googlemail.com"),
    ("+tag@gmail.com", None),                                                     # nothing left before the @
])
def test_google_removes_dots_and_tags_of_its_own_domains_only(raw, google):
    assert apply(lambda c: n.gmail(n.email(c)), [raw]) == [google]


def test_tiktok_removes_the_tag_whatever_the_domain():
    # TIKTOK_IDS: "Remove '+' and any characters following the '+' symbol until '@'"; dots stay
    assert apply(lambda c: n.without_tag(n.email(c)), ["First.Last+promo@Example.com", "janedoe@gmail.com"]) == \
        ["first.last@example.com", "janedoe@gmail.com"]


@pytest.mark.parametrize("raw, region, e164", [
    ("(800)555-0100", "US", "+18005550100"),       # GOOGLE_FORMATTING: "(800)555-0100 ... +18005550100"
    ("+1 650 253 1234", None, "+16502531234"),     # GOOGLE_USER_IDENTIFIER: "+16502531234"
    ("(657)777-0000", "US", "+16577770000"),       # TIKTOK_IDS: US (657)777-0000
    ("374-93-828222", "AM", "+37493828222"),       # TIKTOK_IDS: international 374-93-828222
    ("+44 844 412 4653", None, "+448444124653"),   # META_HELP: phone examples
    ("06 12345678", "NL", "+31612345678"),         # NL national: the trunk 0 goes
    ("+31 6 1234 5678", "US", "+31612345678"),     # international form, whatever the region
    ("0031612345678", "NL", "+31612345678"),       # international prefix 00
    ("030 1234567", "DE", "+49301234567"),
    ("+49 (0)30 1234567", "NL", "+49301234567"),   # the (0) written in German numbers
    ("06 1234 5678", "IT", "+390612345678"),       # Italy keeps the 0 of landlines
    ("333 123 4567", "IT", "+393331234567"),
    ("'+1 613-555-0135", None, "+16135550135"),    # Shopify's export quotes phones with an apostrophe
    ("555-9876543", "US", None),                   # no area code
    ("0612345678", None, None),                    # national, and no region to read it in
    ("12", "NL", None),
    ("not a phone", "NL", None),
    (None, "NL", None),
])
def test_phones_become_e164_or_missing(raw, region, e164):
    assert apply(n.e164, [raw], [region]) == [e164]


def test_meta_hashing_examples():
    # META_API "Hashing": hash("sha256", "mary@example.com") and hash("sha256", "15559876543")
    assert apply(lambda c: n.sha256(n.email(c)), [" Mary@Example.com"]) == \
        ["f1904cf1a9d73a55fa5de0ac823c4403ded71afd4c3248d00bdcd0866552bb79"]
    assert apply(lambda c: n.sha256(n.digits(c)), ["+15559876543"]) == \
        ["1ef970831d7963307784fa8688e8fce101a15685d62aa765fed23f3a2c576a4e"]


def test_tiktok_hashing_examples():
    # TIKTOK_FILE: "janedoe@gmail.com" and the international phone without "+" hash to the documented values
    assert apply(lambda c: n.sha256(n.without_tag(n.email(c))), ["JaneDoe@gmail.com"]) == \
        ["d6117306485ed0e50afab3ac871e98f81699151f30281527d63ff5f233656c69"]
    assert apply(lambda p, r: n.sha256(n.digits(n.e164(p, r))), ["374-93-828222"], ["AM"]) == \
        ["65b7e6dcf6f4310f8d7cbfbd78289a753062fb054d6664fb9aaac5df66a422d4"]


def test_sha256_is_hashlibs_lower_case_hex_and_never_hashes_a_missing_value():
    values = ["mary@example.com", "zoë", "東京", "😀", "", None, "mary@example.com"]
    assert apply(lambda c: n.sha256(n.text(c)), values) == [sha(v) for v in values[:4]] + [None, None, sha(values[0])]


def test_meta_names_keep_letters_of_any_alphabet_city_and_state_a_to_z():
    # META_API: FN/LN "a-z only, lowercase, no punctuation, special characters in UTF-8"; "Only FN and LN
    # support special characters and non-Roman alphabets"; CT "a-z only ... no white space"
    assert apply(n.letters, ["O'Brien-Smith", "Zoë", "Mary Ann", "Émilie", "Москва", "  "]) == \
        ["obriensmith", "zoë", "maryann", "émilie", "москва", None]
    assert apply(n.ascii_letters, ["São Paulo", "New York", "Москва"]) == ["saopaulo", "newyork", None]
    # ST: "the 2-character ANSI abbreviation code, lowercase"; elsewhere "lowercase, no punctuation, ..."
    assert apply(n.us_state, ["California", "CA", "New York", "Noord-Holland", "Île-de-France", "Atlantis"],
                 ["US", "US", "US", "NL", "FR", "US"]) == ["ca", "ca", "ny", "noordholland", "iledefrance", None]


def test_zip_codes():
    zips, countries = ["94016-1234", "2139", "SW1A 1AA", "EC1A 1BB", "1000-001", "1012 AB"], \
        ["US", "US", "GB", "GB", "PT", "NL"]
    # META_API ZIP: "lowercase, no white space; the US the first 5 digits; the UK Area/District/Sector"
    assert apply(n.zip_meta, zips, countries) == ["94016", "02139", "sw1a1", "ec1a1", "1000", "1012ab"]
    # GOOGLE_FORMATTING postal_code: US five digits (or ZIP+4), elsewhere no extension; never hashed
    assert apply(n.zip_code, zips, countries) == ["94016", "02139", "SW1A 1AA", "EC1A 1BB", "1000-001", "1012 AB"]


def test_countries_become_iso_codes_or_missing():
    assert apply(lambda c: n.country(n.text(c)), ["Netherlands", "nl", " NLD ", "UK", "United States", "Narnia", ""]) \
        == ["NL", "NL", "NL", "GB", "US", None, None]


# --- identity ------------------------------------------------------------------------------------------------

def test_identity_from_mapping_reports_every_problem_at_its_key_with_did_you_mean():
    where = {"": Location("segtool.yaml", 3, 1), "emial": Location("segtool.yaml", 4, 3),
             "consent.adz": Location("segtool.yaml", 7, 5), "default_region": Location("segtool.yaml", 5, 3)}
    with pytest.raises(ConfigError) as caught:
        Identity.from_mapping({"emial": "Email", "phone": "Phone", "default_region": "XX",
                               "consent": {"adz": "Ads", "email": {"column": "M", "granted": ["yes"],
                                                                   "denied": ["YES"]}}}, where)
    lines = [str(p) for p in caught.value.problems]
    assert lines == [
        "segtool.yaml:4:3: unknown identity key 'emial' (did you mean 'email'?); allowed: email, phone, first_name, "
        "last_name, zip, city, state, country, external_id, mobile_ad_id, default_region, consent",
        "segtool.yaml:7:5: unknown identity.consent key 'adz' (did you mean 'ads'?); allowed: ads, email, sms",
        "segtool.yaml:3:1: identity.consent.email: 'yes' cannot mean both granted and denied",
        "segtool.yaml:5:3: identity.default_region must be a two-letter country code such as NL or US, found 'XX'",
    ]
    assert [p.suggestions for p in caught.value.problems][:2] == [("email",), ("ads",)]
    assert caught.value.exit_code == 1


@pytest.mark.parametrize("mapping", [["Email"], {"email": 3}, {"email": ""}, {"consent": {"ads": "Ads"}},
                                     {"email": "E", "consent": {"ads": {"granted": ["yes"]}}},
                                     {"email": "E", "consent": {"ads": {"column": "A", "granted": [True]}}}])
def test_identity_from_mapping_refuses(mapping):
    with pytest.raises(ConfigError):
        Identity.from_mapping(mapping, Location("segtool.yaml", 1, 1))


def test_identity_reads_a_region_in_any_case_and_lists_its_columns_once():
    identity = Identity.from_mapping({"email": "Email", "external_id": "Email", "default_region": "nl",
                                      "consent": {"ads": "Accepts Marketing"}})
    assert identity.default_region == "NL"
    assert identity.profile_columns == ("Email", "Accepts Marketing")


@pytest.mark.parametrize("column, words", [
    (pl.Series(["yes", "no", None, "YES "]), [True, False, None, True]),             # Shopify
    (pl.Series(["Yes", "No", "Unset", None]), [True, False, None, None]),            # GA4 privacy_info.ads_storage
    (pl.Series([True, False, None]), [True, False, None]),                           # a boolean column
    (pl.Series(["granted", "denied", "(not set)"]), [True, False, None]),            # consent mode
])
def test_consent_words(column, words):
    consent = Identity.from_mapping({"email": "E", "consent": {"ads": "c"}}).consent["ads"]
    frame = pl.DataFrame({"c": column})
    consent.check(frame, "ads")
    assert frame.select(consent.value()).to_series().to_list() == words


def test_a_consent_value_no_vocabulary_names_is_a_data_error_and_naming_it_reads_it():
    frame = pl.DataFrame({"c": ["oui", "non", "yes"]})
    with pytest.raises(DataError) as caught:
        Identity.from_mapping({"email": "E", "consent": {"email": "c"}}).consent["email"].check(frame, "email")
    assert caught.value.column == "c" and "'non', 'oui'" in str(caught.value)
    named = Identity.from_mapping({"email": "E", "consent": {"email": {"column": "c", "granted": ["oui", "yes"],
                                                                        "denied": ["non"]}}}).consent["email"]
    named.check(frame, "email")
    assert frame.select(named.value()).to_series().to_list() == [True, False, True]


# --- whole files ---------------------------------------------------------------------------------------------

PROFILES = [  # in the order of PROFILE_COLUMNS: dirty as exports are; v5 has ads consent Unset (GA4's word)
    ("v1", "  Cloudy.SanFrancisco+Shopping@GMAIL.com ", "06 12345678", " Zoë ", "Pérez", "1012 AB", "Amsterdam",
     "Noord-Holland", "Netherlands", "yes", "yes", "yes", None),
    ("v2", "user.name+NYC@Example.com", "(800)555-0100", "Mary Ann", "O'Brien", "94016-1234", "San Francisco",
     "California", "US", "Yes", "no", "no", "AECE52E7-03EE-455A-B3C4-E57283966239"),
    ("v3", "hans@example.de", "030 1234567", "Hans", "Müller", "10115", "Berlin", None, "DE", "no", "yes", None, None),
    ("v4", "giulia@example.it", "06 1234 5678", "Giulia", "Rossi, jr.", "00184", "Roma", "RM", "Italy", "YES",
     None, None, None),
    ("v5", "not-an-email", "12", None, None, None, None, None, "NL", "Unset", None, None, None),
    ("v6", "bad@", "+31 6 1234 5679", None, None, None, None, None, "NL", "yes", None, None, None),
    ("v7", "", "nonsense", None, None, None, None, None, None, "yes", None, None, None),
    ("v9", None, None, "Only", None, None, None, None, None, "yes", None, None, None),
    ("v10", "bad@example", None, None, None, None, None, None, None, "yes", None, None, None),
]
PROFILE_COLUMNS = ["visitor_id", "Email", "Phone", "First Name", "Last Name", "Zip", "City", "Province", "Country",
                   "Ads", "Accepts Email Marketing", "Accepts SMS Marketing", "MAID"]
MEMBERS = ["v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10"]  # v8 has no profile
IDENTITY = Identity.from_mapping({
    "email": "Email", "phone": "Phone", "first_name": "First Name", "last_name": "Last Name", "zip": "Zip",
    "city": "City", "state": "Province", "country": "Country", "mobile_ad_id": "MAID",
    "consent": {"ads": "Ads", "email": "Accepts Email Marketing", "sms": "Accepts SMS Marketing"}})


def frames(order=None):
    rows = PROFILES if order is None else [PROFILES[i] for i in order]
    profiles = pl.DataFrame(rows, schema={c: pl.String for c in PROFILE_COLUMNS}, orient="row")
    members = MEMBERS if order is None else MEMBERS[::-1]
    return pl.LazyFrame({"visitor_id": members}), profiles.lazy()


def written(destination, tmp_path, order=None, **options) -> tuple[str, formats.Counts]:
    members, profiles = frames(order)
    rows, counts = formats.build(members, profiles, IDENTITY, destination, **options)
    path = tmp_path / f"{destination}.csv"
    formats.write_csv(rows, path)
    return path.read_bytes().decode("utf-8"), counts


def csv_of(header: str, rows: list[tuple]) -> str:
    """Rows sorted as the files are (by each column in turn, missing last), empty for missing."""
    ordered = sorted(rows, key=lambda row: tuple((v is None, v or "") for v in row))
    return "".join(f"{line}\n" for line in [header, *(",".join(v or "" for v in row) for row in ordered)])


def hashed(*values):
    return tuple(None if v is None else sha(v) for v in values)


def test_google_ads_file(tmp_path):
    text, counts = written("google_ads", tmp_path)
    # GOOGLE_CSV: headers Email, Phone, First Name, Last Name, Country, Zip; Country and Zip never hashed;
    # GOOGLE_FORMATTING: gmail dots and +tag, E.164, names lower-cased and trimmed (GOOGLE_TEMPLATE: zoë,pérez)
    assert text == csv_of("Email,Phone,First Name,Last Name,Country,Zip", [
        (*hashed("cloudysanfrancisco@gmail.com", "+31612345678", "zoë", "pérez"), "NL", "1012 AB"),
        (*hashed("user.name+nyc@example.com", "+18005550100", "mary ann", "o'brien"), "US", "94016"),
        (*hashed("giulia@example.it", "+390612345678", "giulia", "rossi, jr."), "IT", "00184"),
        (*hashed(None, "+31612345679", None, None), "NL", None),
    ])
    # v3 said no, v5 Unset, v8 has no profile (so no consent); v7's phone and v10's e-mail are unusable and
    # they have nothing else; v9 has a first name only
    assert counts == formats.Counts(written=4, no_identifier=1, invalid_email=1, invalid_phone=1, no_consent=3,
                                    rows=4)
    assert counts.members == len(MEMBERS)


def test_meta_file(tmp_path):
    text, counts = written("meta", tmp_path)
    # META_HELP: headers email, phone, fn, ln, zip, ct, st, country, madid (extern_id: not in this identity);
    # META_API: everything hashed but madid ("Do not hash ... all lowercase, and keep hyphens"); phone with
    # country code, no "+"; country lower-case ISO-2
    assert text == csv_of("email,phone,fn,ln,zip,ct,st,country,madid", [
        (*hashed("cloudy.sanfrancisco+shopping@gmail.com", "31612345678", "zoë", "pérez", "1012ab", "amsterdam",
                 "noordholland", "nl"), None),
        (*hashed("user.name+nyc@example.com", "18005550100", "maryann", "obrien", "94016", "sanfrancisco", "ca",
                 "us"), "aece52e7-03ee-455a-b3c4-e57283966239"),
        (*hashed("giulia@example.it", "390612345678", "giulia", "rossijr", "00184", "roma", "rm", "it"), None),
        (*hashed(None, "31612345679", None, None, None, None, None, "nl"), None),
    ])
    assert (counts.written, counts.no_consent) == (4, 3)


def test_meta_extern_id_is_written_as_it_is_and_identifies_a_person(tmp_path):
    identity = Identity.from_mapping({"external_id": "visitor_id", "consent": {"ads": "Ads"}})
    members, profiles = frames()
    rows, counts = formats.build(members, profiles, identity, "meta")
    assert rows.collect().to_dict(as_series=False) == {"extern_id": ["v1", "v10", "v2", "v4", "v6", "v7", "v9"]}
    assert counts == formats.Counts(written=7, no_consent=3, rows=7)


def test_tiktok_file(tmp_path):
    text, counts = written("tiktok", tmp_path)
    # TIKTOK_IDS: Email_SHA256 lower case without the +tag, Phone_SHA256 with country code and no "+",
    # MAID in one case (TIKTOK_FILE's hashed phone example is of the number without "+")
    assert text == csv_of("Email_SHA256,Phone_SHA256,MAID", [
        (*hashed("cloudy.sanfrancisco@gmail.com", "31612345678"), None),
        (*hashed("user.name@example.com", "18005550100"), "aece52e7-03ee-455a-b3c4-e57283966239"),
        (*hashed("giulia@example.it", "390612345678"), None),
        (*hashed(None, "31612345679"), None),
    ])
    assert counts.written == 4


def test_klaviyo_keeps_opt_outs_with_their_status(tmp_path):
    text, counts = written("klaviyo", tmp_path)
    # KLAVIYO_LIST: Email (or Phone Number) and Klaviyo's properties as headers; KLAVIYO_CONSENT: Email and
    # SMS Marketing Consent as Subscribed / Unsubscribed / Never subscribed (a channel's status only where the
    # person has that channel)
    assert text == (
        "Email,Phone Number,First Name,Last Name,City,Region,Country,Zip Code,Email Marketing Consent,"
        "SMS Marketing Consent\n"
        "cloudy.sanfrancisco+shopping@gmail.com,+31612345678,Zoë,Pérez,Amsterdam,Noord-Holland,NL,1012 AB,"
        "Subscribed,Subscribed\n"
        'giulia@example.it,+390612345678,Giulia,"Rossi, jr.",Roma,RM,IT,00184,Never subscribed,Never subscribed\n'
        "hans@example.de,+49301234567,Hans,Müller,Berlin,,DE,10115,Subscribed,Never subscribed\n"
        "user.name+nyc@example.com,+18005550100,Mary Ann,O'Brien,San Francisco,California,US,94016-1234,"
        "Unsubscribed,Unsubscribed\n"
        ",+31612345679,,,,,NL,,,Never subscribed\n")
    # no ads consent applies; v5's and v10's e-mails and v7's phone are unusable; v8 and v9 have neither
    assert counts == formats.Counts(written=5, no_identifier=2, invalid_email=2, invalid_phone=1, rows=5)


def test_mailchimp_keeps_opt_outs_with_their_status(tmp_path):
    text, counts = written("mailchimp", tmp_path)
    # MAILCHIMP_IMPORT: Email Address required, phone in E.164, two-letter country codes; MAILCHIMP_STATUSES:
    # subscribed, unsubscribed, non-subscribed
    assert text == (
        "Email Address,First Name,Last Name,Phone Number,Country,Status\n"
        "cloudy.sanfrancisco+shopping@gmail.com,Zoë,Pérez,+31612345678,NL,subscribed\n"
        'giulia@example.it,Giulia,"Rossi, jr.",+390612345678,IT,non-subscribed\n'
        "hans@example.de,Hans,Müller,+49301234567,DE,subscribed\n"
        "user.name+nyc@example.com,Mary Ann,O'Brien,+18005550100,US,unsubscribed\n")
    # an e-mail is the only key: v6 (bad@) is out even with a good phone
    assert counts == formats.Counts(written=4, no_identifier=3, invalid_email=3, rows=4)


def test_ignoring_consent_keeps_everyone_and_says_so(tmp_path):
    _, counts = written("google_ads", tmp_path, ignore_consent=True)
    assert counts.no_consent == 0 and counts.written == 5 and counts.consent_ignored  # v3 (said no) joins
    _, kept = written("klaviyo", tmp_path, ignore_consent=True)
    assert not kept.consent_ignored  # e-mail formats filter no one: nothing was overridden


@pytest.mark.parametrize("destination", list(formats.DESTINATIONS))
def test_the_same_members_in_another_order_give_the_same_bytes(tmp_path, destination):
    order = list(range(len(PROFILES)))
    random.Random(7).shuffle(order)
    assert written(destination, tmp_path, order)[0] == written(destination, tmp_path)[0]


def test_two_members_with_one_address_are_one_line():
    identity = Identity.from_mapping({"email": "E", "consent": {"ads": "A"}})
    profiles = pl.LazyFrame({"visitor_id": ["a", "b"], "E": ["Ann@x.com", "ann@x.com "], "A": ["yes", "yes"]})
    rows, counts = formats.build(pl.LazyFrame({"visitor_id": ["a", "b"]}), profiles, identity, "google_ads")
    assert rows.collect()["Email"].to_list() == [sha("ann@x.com")]
    assert (counts.written, counts.rows) == (2, 1)


def test_the_file_is_utf8_without_bom_with_newline_endings(tmp_path):
    members, profiles = frames()
    rows, _ = formats.build(members, profiles, IDENTITY, "mailchimp")
    formats.write_csv(rows, tmp_path / "m.csv")
    raw = (tmp_path / "m.csv").read_bytes()
    assert raw.startswith(b"Email Address,") and b"\r" not in raw and "Zoë".encode() in raw


def test_destinations_refuse_what_they_cannot_write():
    members, profiles = frames()
    with pytest.raises(UsageError, match="google_ads"):
        formats.build(members, profiles, IDENTITY, "googleads")
    no_consent = Identity.from_mapping({"email": "Email"})
    with pytest.raises(ConfigError) as caught:
        formats.build(members, profiles, no_consent, "meta")
    assert [p.code for p in caught.value.problems] == ["missing-consent"]
    names_only = Identity.from_mapping({"first_name": "First Name", "consent": {"ads": "Ads"}})
    with pytest.raises(ConfigError) as caught:
        formats.build(members, profiles, names_only, "google_ads")
    assert [p.code for p in caught.value.problems] == ["missing-identity"]
    typo = Identity.from_mapping({"email": "Emial", "consent": {"ads": "Ads"}})
    with pytest.raises(DataError) as caught:
        formats.build(members, profiles, typo, "google_ads")
    assert caught.value.column == "Emial" and "did you mean 'Email'" in str(caught.value)


def test_minimum_list_sizes():
    assert formats.DESTINATIONS["meta"].below_minimum(99) is not None  # META_HELP: lists of fewer than 100
    assert formats.DESTINATIONS["meta"].below_minimum(100) is None
    assert formats.DESTINATIONS["google_ads"].minimum == 100  # https://support.google.com/google-ads/answer/7476585
    assert formats.DESTINATIONS["tiktok"].minimum == 1000     # TIKTOK_FILE: "at least 1000 entries"
    assert formats.DESTINATIONS["klaviyo"].below_minimum(1) is None
