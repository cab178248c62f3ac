"""`segtool run --format google_ads|meta|tiktok|klaviyo|mailchimp` end to end: the config's `identity:` (and a
preset's defaults), consent, the counts per outcome in the summary and the manifest, the platform minimum,
and the same bytes from every engine.

The expected identifiers are normalised by hand here, as the platforms document it, and hashed with hashlib
(https://developers.google.com/data-manager/api/devguides/concepts/formatting,
https://developers.facebook.com/docs/marketing-api/audiences/guides/custom-audiences), so the tests share no
code with segtool/delivery."""

from __future__ import annotations

import hashlib
import json

import pytest
from typer.testing import CliRunner

from conftest import REPO, Workspace, conversion, spark
from segtool.cli.main import app

SEGMENT = "name: buyers\nrules:\n  - conversions: {gte: 1}\n"
IDENTITY = """
identity:
  email: E-mail
  phone: Telephone
  first_name: Given
  country: Land
  default_region: NL
  consent:
    ads: Ads OK
    email: {column: Newsletter, granted: [ja], denied: [nee]}
"""
PEOPLE = [  # visitor, e-mail, phone, first name, country, ads consent, newsletter
    ("a", "  Ann.Lee+Promo@GMAIL.com ", "06 12345678", " Ann ", "", "yes", "ja"),
    ("b", "Bob@Example.com", "+1 (650) 253-1234", "Bob", "United States", "Yes", "nee"),
    ("c", "carl@example.de", "030 1234567", "Carl", "DE", "no", ""),  # said no to ads
    ("d", "not-an-address", "12", "Dan", "NL", "yes", ""),           # nothing usable
    ("e", "", "", "Eve", "NL", "true", "ja"),                         # a first name alone identifies no one
    ("f", "fay@example.nl", "", "Fay", "NL", "", "ja"),               # ads consent unknown
]


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def shop(tmp_path) -> Workspace:
    ws = Workspace(tmp_path)
    ws.events(*(conversion(p[0], "2024-06-01T10:00:00Z") for p in PEOPLE), conversion("g", "2024-06-02T10:00:00Z"))
    ws.profiles(*({"visitor_id": v, "E-mail": e, "Telephone": t, "Given": g, "Land": c, "Ads OK": a,
                   "Newsletter": n} for v, e, t, g, c, a, n in PEOPLE))
    ws.config(IDENTITY)
    ws.segment(SEGMENT, "buyers.yaml")
    return ws


def run(ws: Workspace, *args: str):
    return ws.cli("run", str(ws.root / "buyers.yaml"), "--as-of", "2024-06-30", *args)


def test_google_ads_file_holds_the_hashes_of_the_members_with_ads_consent(tmp_path):
    ws = shop(tmp_path)
    result = run(ws, "--format", "google_ads", "-o", str(tmp_path / "google.csv"))
    assert result.exit_code == 0, result.stderr
    # a: gmail without dots and +tag, a national phone read in default_region NL; b: E.164 of a US number
    expected = sorted([(sha("annlee@gmail.com"), sha("+31612345678"), sha("ann"), ""),
                       (sha("bob@example.com"), sha("+16502531234"), sha("bob"), "US")])
    lines = (tmp_path / "google.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "Email,Phone,First Name,Country"
    assert sorted(tuple(line.split(",")) for line in lines[1:]) == expected
    assert "fewer than the 100" in result.stderr  # a warning; the file is written


def test_meta_and_tiktok_hash_the_number_without_plus(tmp_path):
    ws = shop(tmp_path)
    assert run(ws, "--format", "tiktok", "-o", str(tmp_path / "t.csv")).exit_code == 0
    rows = (tmp_path / "t.csv").read_text().splitlines()
    assert rows[0] == "Email_SHA256,Phone_SHA256"
    assert set(rows[1:]) == {f"{sha('ann.lee@gmail.com')},{sha('31612345678')}",
                             f"{sha('bob@example.com')},{sha('16502531234')}"}


def test_email_tools_keep_opt_outs_as_their_status(tmp_path):
    ws = shop(tmp_path)
    result = run(ws, "--format", "mailchimp")  # one segment, no -o: the file on stdout
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "Email Address,First Name,Phone Number,Country,Status\n"
        "ann.lee+promo@gmail.com,Ann,+31612345678,,subscribed\n"
        "bob@example.com,Bob,+16502531234,US,unsubscribed\n"
        "carl@example.de,Carl,+49301234567,DE,non-subscribed\n"
        "fay@example.nl,Fay,,NL,subscribed\n")


def test_counts_per_outcome_in_the_summary_and_the_manifest(tmp_path):
    ws = shop(tmp_path)
    result = run(ws, "--format", "google_ads", "--output-dir", str(tmp_path / "out"), "--summary",
                 "--summary-format", "json")
    assert result.exit_code == 0, result.stderr
    # a, b written; c (no), f (unknown) and g (no profile) without consent; d's e-mail and phone unusable; e a
    # first name alone
    counts = {"format": "google_ads", "written": 2, "no_identifier": 1, "invalid_email": 1, "invalid_phone": 0,
              "no_consent": 3, "rows": 2, "consent_ignored": False, "platform_minimum": 100}
    (segment,) = json.loads(result.stdout)["segments"]
    assert segment["delivery"] == counts and segment["size"] == 7
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["segments"]["buyers"]["delivery"] == counts
    # a destination file comes with its changes since the acknowledged delivery: none yet, so every row is added
    assert manifest["segments"]["buyers"]["files"] == ["buyers.csv", "buyers.added.csv", "buyers.removed.csv"]
    out = tmp_path / "out"
    assert (out / "buyers.added.csv").read_bytes() == (out / "buyers.csv").read_bytes()
    assert (out / "buyers.removed.csv").read_text().splitlines() == (out / "buyers.csv").read_text().splitlines()[:1]
    text = run(ws, "--format", "google_ads", "--summary").stdout
    assert "buyers: google_ads: 2 members written (2 rows); left out: 3 without consent, 1 invalid e-mail, " \
           "1 no usable identifier" in text


def test_ignoring_consent_is_explicit_and_recorded(tmp_path):
    ws = shop(tmp_path)
    result = run(ws, "--format", "google_ads", "--ignore-consent", "--output-dir", str(tmp_path / "out"))
    assert result.exit_code == 0, result.stderr
    delivery = json.loads((tmp_path / "out" / "manifest.json").read_text())["segments"]["buyers"]["delivery"]
    assert (delivery["written"], delivery["no_consent"], delivery["consent_ignored"]) == (4, 0, True)
    assert sha("carl@example.de") in (tmp_path / "out" / "buyers.csv").read_text()


def test_strict_fails_below_the_platform_minimum_and_writes_nothing(tmp_path):
    ws = shop(tmp_path)
    result = run(ws, "--format", "tiktok", "--strict", "-o", str(tmp_path / "t.csv"))
    assert result.exit_code == 4 and not (tmp_path / "t.csv").exists()
    assert "1,000" in result.stderr
    result = run(ws, "--format", "meta", "--strict", "--output-dir", str(tmp_path / "out"))
    entry = json.loads((tmp_path / "out" / "manifest.json").read_text())["segments"]["buyers"]
    assert result.exit_code == 4 and entry["status"] == "guard_failed" and entry["delivery"]["rows"] == 2
    assert not (tmp_path / "out" / "buyers.csv").exists()


def test_polars_and_duckdb_write_the_same_bytes(tmp_path):
    ws = shop(tmp_path)
    for fmt in ("google_ads", "meta", "klaviyo"):
        files = []
        for engine in ("polars", "duckdb"):
            target = tmp_path / f"{fmt}-{engine}.csv"
            assert run(ws, "--format", fmt, "--ignore-consent" if fmt == "meta" else "--quiet", "--engine", engine,
                       "-o", str(target)).exit_code == 0
            files.append(target.read_bytes())
        assert files[0] == files[1] and files[0].count(b"\n") > 2


@spark
def test_spark_writes_the_same_bytes(tmp_path):
    ws = shop(tmp_path)
    files = []
    for engine in ("polars", "spark"):
        target = tmp_path / f"{engine}.csv"
        assert run(ws, "--format", "google_ads", "--engine", engine, "-o", str(target)).exit_code == 0
        files.append(target.read_bytes())
    assert files[0] == files[1]


def test_identity_errors_name_their_place_in_the_config(tmp_path):
    ws = shop(tmp_path)
    ws.config("identity:\n  emial: E-mail\n  consent: {ads: {column: Ads OK, granted: [yes], denied: [YES]}}\n")
    result = run(ws, "--format", "google_ads")
    config = tmp_path / "segtool.yaml"
    line = config.read_text().splitlines().index("  emial: E-mail") + 1
    assert result.exit_code == 1
    assert f"{config}:{line}:3: unknown identity key 'emial' (did you mean 'email'?)" in result.stderr
    assert f"{config}:{line + 1}:" in result.stderr and "cannot mean both granted and denied" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("config, code, needle", [
    ("identity:\n  email: Emial\n  consent: {ads: Ads OK}\n", 3, "did you mean 'E-mail'"),
    ("identity:\n  email: E-mail\n", 1, "identity.consent.ads"),                 # an ads format needs consent
    ("identity:\n  first_name: Given\n  consent: {ads: Ads OK}\n", 1, "identity.email"),
    ("identity:\n  email: E-mail\n  consent: {ads: Newsletter}\n", 3, "'ja'"),  # words no vocabulary names
])
def test_an_identity_that_cannot_fill_the_file_is_a_clean_error(tmp_path, config, code, needle):
    ws = shop(tmp_path)
    ws.config(config)
    result = run(ws, "--format", "google_ads", "-o", str(tmp_path / "g.csv"))
    assert (result.exit_code, needle in result.stderr) == (code, True), result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "g.csv").exists()


@pytest.mark.parametrize("args", [
    ["--format", "google_ads", "--columns", "Given", "-o", "x.csv"],
    ["--format", "google_ads", "--split", "50:50", "-o", "x.csv"],
    ["--ignore-consent"],
    ["--strict", "--format", "csv"],
    ["--format", "googleads"],
    ["--summary-format", "json"],
])
def test_usage_errors(tmp_path, args):
    result = run(shop(tmp_path), *args)
    assert result.exit_code == 2 and "Traceback" not in result.stderr


def test_shopify_customers_preset_supplies_the_identity(tmp_path):
    export = REPO / "tests" / "fixtures" / "vendors" / "shopify_customers" / "customers_export.csv"
    Workspace(tmp_path).events(*(conversion(v, "2024-06-01T10:00:00Z") for v in (
        "lisa.bos@example.nl", "mark.dewit@example.nl", "noor.elamrani@example.nl", "unknown@example.nl")))
    config = tmp_path / "segtool.yaml"
    config.write_text(f"data:\n  events: events.csv\n  profiles: {{path: '{export}', preset: shopify_customers}}\n")
    (tmp_path / "buyers.yaml").write_text(SEGMENT)
    result = CliRunner().invoke(app, ["run", str(tmp_path / "buyers.yaml"), "--format", "klaviyo", "--as-of",
                                      "2024-06-30", "--config", str(config)])
    assert result.exit_code == 0, result.stderr
    # Email, names, address and Accepts Email/SMS Marketing from the export; unknown@ has no profile
    # (an SMS status only where the person has a phone)
    assert result.stdout.splitlines() == [
        "Email,Phone Number,First Name,Last Name,City,Region,Country,Zip Code,Email Marketing Consent,"
        "SMS Marketing Consent",
        "lisa.bos@example.nl,,Lisa,Bos,Amsterdam,North Holland,NL,1016 GV,Subscribed,",
        "mark.dewit@example.nl,,Mark,de Wit,Rotterdam,South Holland,NL,3012 BP,Unsubscribed,",
        "noor.elamrani@example.nl,,Noor,El Amrani,Den Haag,South Holland,NL,2514 EA,Subscribed,",
    ]


@pytest.mark.parametrize("preset, path, roles, consents", [
    ("shopify_orders", "shopify/orders_export_*.csv", {"email": "email", "phone": "phone", "zip": "zip",
                                                       "city": "city", "state": "region", "country": "country"},
     {"email": "accepts_email_marketing"}),
    ("ga4", "ga4/parquet/", {}, {"ads": "ads_storage"}),
])
def test_presets_name_the_identity_their_exports_hold(tmp_path, preset, path, roles, consents):
    from segtool.api import Session

    config = tmp_path / "segtool.yaml"
    config.write_text(f"preset: {preset}\ndata:\n  events: '{REPO / 'tests' / 'fixtures' / 'vendors' / path}'\n"
                      "identity:\n  external_id: visitor_id\n")
    session = Session.open(config)
    identity = session.delivery_identity()
    assert identity.columns == {**roles, "external_id": "visitor_id"}  # the config's roles beside the preset's
    assert {kind: c.column for kind, c in identity.consent.items()} == consents
    assert set(identity.profile_columns) - {"visitor_id"} <= set(session.profile_columns())


def test_the_shipped_sample_holds_identities_as_exports_write_them(monkeypatch, tmp_path):
    import polars as pl

    monkeypatch.chdir(REPO)
    profiles = pl.read_parquet(REPO / "sample_data" / "profiles.parquet")
    email, phone = profiles["email"].drop_nulls(), profiles["phone"].drop_nulls()
    for dirty in (r"\+", r"^\s", r"[A-Z]", r"(?i)@gmail\.com"):  # +tags, spaces, capitals, gmail
        assert email.str.contains(dirty).sum() > 10, dirty
    assert phone.str.starts_with("+").sum() > 500 and phone.str.starts_with("0").sum() > 500  # both forms
    assert profiles["phone"].null_count() > 100 and (profiles["ads_consent"] == "no").sum() > 100
    target = tmp_path / "google.csv"
    result = CliRunner().invoke(app, ["run", "segments/no_conversion_60d.yaml", "--format", "google_ads", "-o",
                                      str(target)])
    assert result.exit_code == 0, result.stderr
    # visitor 000030: JOSE.VANDENBERG000030+shop@GMAIL.COM, 01512 3455840 in DE, José Van den Berg, ads: yes
    assert ",".join([sha("josevandenberg000030@gmail.com"), sha("+4915123455840"), sha("josé"),
                     sha("van den berg"), "DE", "60332"]) in target.read_text(encoding="utf-8").splitlines()
