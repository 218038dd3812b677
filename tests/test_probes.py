"""Tests for the probes package: committed sets, validation errors, builders, loaders."""

from __future__ import annotations

import json
import shutil
import unicodedata
import warnings
from collections import Counter
from pathlib import Path

import pytest

from polylens.errors import ProbeError, ToolkitError
from polylens.probes import LANGUAGES, get_language, list_probe_sets, load_probe_set, validate
from polylens.probes.edge_cases import CATEGORIES
from polylens.probes.languages import SEED_LANGUAGES
from polylens.probes.model import DATA_DIR
from polylens.probes.variants import VARIANTS

FIXTURES = Path(__file__).parent / "fixtures"
BAD = FIXTURES / "bad_probes"
REQUIRED = {"en", "hi", "bn", "sw", "am", "fr", "es", "ar", "yo", "ta", "kk", "zh", "ja", "he", "id", "pt"}


# ----------------------------------------------------------------------------- languages
def test_languages_cover_required_set_with_valid_fields():
    assert len(LANGUAGES) >= 20 and REQUIRED <= set(LANGUAGES)
    for lang in LANGUAGES.values():
        assert len(lang.script) == 4 and lang.script[0].isupper()
        assert lang.resource == (
            "high" if lang.joshi_class >= 4 else "medium" if lang.joshi_class == 3 else "low"
        )
        assert lang.target_variant in VARIANTS
    assert get_language("en").target_variant == "global"
    assert get_language("hi").target_variant == "fire"
    assert get_language("sw").target_variant == "earth"
    assert get_language("fr").target_variant == "water"


def test_get_language_unknown_names_code():
    with pytest.raises(ProbeError, match="'xx'"):
        get_language("xx")
    assert issubclass(ProbeError, ToolkitError)


# ----------------------------------------------------------------------------- committed sets
@pytest.mark.parametrize("name", ["concepts", "medical", "udhr", "edge_cases", "udhr_romanized"])
def test_committed_sets_validate_cleanly(name):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ps = load_probe_set(name)
    assert ps.name == name and len(ps.sha256) == 64
    assert ps.units and len(set(ps.units)) == len(ps.units)
    assert (DATA_DIR / f"{name}.json").stat().st_size < 2_000_000
    assert ps.unit_dim == ("concept" if ps.kind == "concepts" else "item")
    assert all(s.text.strip() for s in ps.stimuli)


def test_concepts_counts_domains_and_coverage():
    ps = load_probe_set("concepts")
    domains = Counter(m["domain"] for m in ps.unit_meta.values())
    assert len(ps.units) >= 200 and len(domains) >= 6
    assert list(domains)[0] == "body_health" and domains["body_health"] >= 40
    assert set(ps.languages) == set(LANGUAGES)
    counts = ps.counts()
    for unit in ps.units:  # every gap is explicitly marked missing
        present = {s.lang for s in ps.stimuli if s.unit == unit}
        assert present | set(ps.unit_meta[unit]["missing"]) == set(ps.languages)
    assert min(counts.values()) >= 200
    assert ps.provenance["tarball_sha256"] and ps.provenance["version"]


def test_concept_names_match_cldr_flags():
    ps = load_probe_set("concepts")
    by = {(s.unit, s.lang): s for s in ps.stimuli}
    assert by[("drop_of_blood", "en")].text == "drop of blood"
    for s in ps.stimuli:
        assert ("multiword" in s.meta["flags"]) == (len(s.text.split()) >= 3)
        if "duplicate_name" in s.meta["flags"]:
            assert s.meta["ambiguous"] and s.meta["shared_with"]
            other = s.meta["shared_with"][0]
            assert by[(other, s.lang)].text.casefold() == s.text.casefold()


def test_medical_design_and_verification():
    ps = load_probe_set("medical")
    assert len(ps.units) == 20 and ps.languages == list(SEED_LANGUAGES)
    assert {
        "fever",
        "cough",
        "diarrhea",
        "pain",
        "malaria",
        "vaccine",
        "pregnancy",
        "dehydration",
        "breathing_difficulty",
        "infection",
    } <= set(ps.units)
    assert len(ps.stimuli) == 200
    for s in ps.stimuli:
        assert s.meta["key_term"] in s.text
        assert isinstance(s.meta["verified"], bool)
        assert (s.meta["source"] in ("cldr", "freedict")) == s.meta["verified"]
    share = ps.verified_share()
    print(f"medical verified share: {share:.3f}")
    assert 0.5 <= share < 1.0  # reported, and honest: not everything is verifiable


def test_udhr_alignment_and_amharic_wordspace():
    ps = load_probe_set("udhr")
    assert set(ps.languages) == set(LANGUAGES) and len(ps.units) >= 40
    assert set(ps.counts().values()) == {len(ps.units)}
    assert not any("\u1361" in s.text for s in ps.stimuli)
    assert all(unicodedata.is_normalized("NFC", s.text) for s in ps.stimuli)
    excluded = ps.provenance["excluded_sections"]
    assert all(sec not in {m["section"] for m in ps.unit_meta.values()} for sec in excluded)


def test_romanized_corpus_is_latin_and_aligned():
    ps = load_probe_set("udhr_romanized")
    assert ps.languages == ["hi", "bn", "ta", "ar", "am"]
    assert ps.units == load_probe_set("udhr").units
    for s in ps.stimuli:
        letters = [c for c in s.text if c.isalpha()]
        assert sum(c.isascii() for c in letters) / len(letters) > 0.95, (s.unit, s.lang)


def test_edge_cases_categories_and_fields():
    ps = load_probe_set("edge_cases")
    assert ps.kind == "edge_cases" and len(ps.units) >= 40
    cats = Counter(m["failure_category"] for m in ps.unit_meta.values())
    assert set(cats) == set(CATEGORIES) and min(cats.values()) >= 5
    fields = {
        "test_id",
        "input",
        "language_ground_truth",
        "expected_variant",
        "failure_category",
        "routing_recommendation",
        "rationale",
    }
    for s in ps.stimuli:
        assert fields <= set(s.meta) and s.meta["input"] == s.text
        assert s.meta["language_ground_truth"] == s.lang and s.meta["test_id"] == s.unit
        assert s.meta["expected_variant"] in VARIANTS


def test_edge_cases_unicode_really_edgy():
    ps = load_probe_set("edge_cases")
    texts = {s.unit: s.text for s in ps.stimuli}
    assert "\u200d" in texts["UNI-hi-zwj-infection"]
    assert not unicodedata.is_normalized("NFC", texts["UNI-yo-nfd"])
    assert "\u200f" in texts["UNI-ar-bidi-marks"]
    assert "\u1361" in texts["UNI-am-ethiopic-wordspace"]
    assert any(
        unicodedata.digit(c, None) is not None and not c.isascii() for c in texts["UNI-ar-native-digits"]
    )


def test_list_probe_sets_rows():
    rows = {r["name"]: r for r in list_probe_sets()}
    assert {"concepts", "medical", "udhr", "edge_cases"} <= set(rows)
    assert rows["medical"]["verified_share"] == round(load_probe_set("medical").verified_share(), 4)
    assert rows["concepts"]["n_units"] >= 200 and rows["udhr"]["verified_share"] is None
    assert sum(rows["medical"]["counts"].values()) == rows["medical"]["n_stimuli"]


def test_select_subsets_and_rejects_unknown():
    ps = load_probe_set("medical").select(langs=["hi", "en"], limit=3)
    assert ps.languages == ["en", "hi"] and ps.units == ["fever", "cough", "diarrhea"]
    assert len(ps.stimuli) == 6 and set(ps.unit_meta) == set(ps.units)
    with pytest.raises(ProbeError, match="unknown language"):
        load_probe_set("medical").select(langs=["kk"])


# ----------------------------------------------------------------------------- user files
def test_user_file_loads_by_path():
    ps = load_probe_set(FIXTURES / "good_user_concepts.json")
    assert ps.units == ["water", "fire"] and ps.texts("fr") == {"water": "eau", "fire": "feu"}


@pytest.mark.parametrize(
    "fixture, pattern",
    [
        ("duplicate_id.json", r"duplicate_id\.json: duplicate unit id 'water' \(units\[1\]\)"),
        ("unknown_language.json", r"unknown_language\.json: unknown language code 'xx'"),
        ("empty_text.json", r"empty_text\.json: unit 'fire', lang 'fr': empty or whitespace-only"),
        ("missing_language.json", r"missing_language\.json: unit 'fire', lang 'fr': missing language"),
        (
            "mismatched_parallel.json",
            r"mismatched_parallel\.json: mismatched parallel counts: lang 'fr' has 1 units, 'en' has 2",
        ),
        (
            "schema_missing_texts.json",
            r"schema_missing_texts\.json: schema violation at unit 'water' "
            r"\(units\[0\]\): 'texts' is a required property",
        ),
        (
            "undeclared_language.json",
            r"undeclared_language\.json: unit 'water', lang 'de': language not declared",
        ),
        ("not_json.json", r"not_json\.json: not a UTF-8 JSON probe file"),
    ],
)
def test_bad_fixtures_raise_specific_errors(fixture, pattern):
    with pytest.raises(ProbeError, match=pattern):
        validate(BAD / fixture)


def test_not_nfc_warns_then_normalizes():
    with pytest.warns(UserWarning, match=r"not_nfc\.json: unit 'water', lang 'fr': text is not NFC"):
        ps = validate(BAD / "not_nfc.json")
    assert not unicodedata.is_normalized("NFC", ps.texts("fr")["water"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ps = validate(BAD / "not_nfc.json", normalize=True)
    assert unicodedata.is_normalized("NFC", ps.texts("fr")["water"])


def test_unknown_name_is_probe_error():
    with pytest.raises(ProbeError, match="unknown probe set 'nonesuch'"):
        load_probe_set("nonesuch")


def test_schema_file_matches_committed_format():
    schema = json.loads((DATA_DIR / "probe_set.schema.json").read_text())
    doc = json.loads((DATA_DIR / "medical.json").read_text())
    assert set(schema["required"]) <= set(doc)


# ----------------------------------------------------------------------------- FLORES
def test_flores_loader_reads_layout():
    ps = load_probe_set(f"flores:{FIXTURES / 'flores_ok'}")
    assert ps.languages == ["en", "hi"] and ps.units == ["dev.1", "dev.2"]
    assert ps.texts("hi")["dev.1"].startswith("बच्चे")


def test_flores_mismatched_counts():
    with pytest.raises(
        ProbeError,
        match=r"swh_Latn: mismatched parallel counts: lang 'sw' has 1 "
        r"lines, 'en' has 2",
    ):
        load_probe_set(f"flores:{FIXTURES / 'flores_bad'}")


# ----------------------------------------------------------------------------- builders
@pytest.mark.slow
def test_build_all_reproduces_committed_bytes(tmp_path):
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed: builders fetch upstream with `npm pack`")
    from polylens.probes.build import build_all
    from polylens.probes.verify import freedict_available

    if not freedict_available():
        pytest.skip("Debian dict-freedict-eng-* not installed: medical verification would differ")
    written = build_all(tmp_path)
    assert len(written) == 8  # + codeswitch.json (issue 18)
    for path in written:
        assert path.read_bytes() == (DATA_DIR / path.name).read_bytes(), path.name


def test_medical_verification_uses_sources(monkeypatch):
    """Verification must fail when the sources do not contain the term (not hard-coded)."""
    from polylens.probes import verify

    entry = {"anchors": "🩸", "headwords": ["blood"], "s": {"fr": ("x sang", "sang", None)}}
    table = {"🩸": {"tts": ["goutte de sang"], "default": ["sang"]}}
    assert verify.verify_key_term(entry, "fr", table, {})["verified"]
    assert not verify.verify_key_term(entry, "fr", {"🩸": {"tts": ["goutte"]}}, {})["verified"]
    hit = verify.verify_key_term(entry, "fr", {}, {"fr": {"blood": "blood\nsang, sanguin"}})
    assert hit["source"] == "freedict"
    assert verify._matches("ሆስፒታሉ", {"ሆስፒታል"}) and not verify._matches("head", {"headache"})
