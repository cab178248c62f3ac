"""Destination files (segtool/delivery): each platform's documented normalisation as golden vectors (the
documentation cited next to each), hashes checked against hashlib, consent, counts per outcome, and the
same bytes whatever the order of the input.

Expected files are written out by hand from the documented rules, hashed here with hashlib, so the test
does not share the code under test."""

from __future__ import annotations

import hashlib

import polars as pl
import pytest

from segtool.delivery import normalise as n
from segtool.delivery.identity import Identity
from segtool.errors import ConfigError, DataError, Location

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
