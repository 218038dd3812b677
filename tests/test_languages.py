"""The one language table and the one variant list: checked against CLDR (babel) and every user."""

from __future__ import annotations

import babel
import pytest
from babel.core import get_global

from polylens.analysis import taxonomy
from polylens.analysis.routing import text as tx
from polylens.analysis.routing.ngram import load_model
from polylens.analysis.routing.rules import DEFAULT_POLICY
from polylens.figures import style
from polylens.hooks.registry import REGISTRY
from polylens.hooks.tiny import TOKENIZER_LOCALES
from polylens.probes import load_probe_set
from polylens.probes.edge_cases import DIALECTS, DIGIT_ZERO
from polylens.probes.flores import FLORES_CODES
from polylens.probes.languages import (
    LANGUAGES,
    LATIN_LANGS,
    LOW_RESOURCE_LANGS,
    ROMANIZED_LANGS,
    SEED_LANGUAGES,
    TABLE,
)
from polylens.probes.scripts import SCRIPTS, WRITING_SYSTEMS, unicode_scripts
from polylens.probes.variants import QUANT_SPEC, VARIANT_NAMES, VARIANTS, split_quant, with_quant

#: our English name -> CLDR's, where they differ on purpose (older, more widely used names)
NAME_DIFFERENCES = {"bn": ("Bengali", "Bangla")}
#: codes whose CLDR likely-subtags entry is missing (Twi is listed under its macrolanguage ``ak``)
NO_LIKELY_SUBTAGS = {"tw": "ak"}
#: script labels that differ from CLDR's English names (figure labels say which Han)
SCRIPT_NAME_DIFFERENCES = {
    "Beng": ("Bengali", "Bangla"),
    "Hans": ("Han (simplified)", "Simplified"),
    "Hant": ("Han (traditional)", "Traditional"),
}


def _likely_script(code: str) -> str:
    """CLDR likely-subtags script of ``und_<code>`` (e.g. ``zh`` -> ``Hans``)."""
    likely = get_global("likely_subtags")
    return str(likely[NO_LIKELY_SUBTAGS.get(code, code)]).split("_")[1]


# ----------------------------------------------------------------------------- against CLDR
@pytest.mark.parametrize("code", sorted(TABLE))
def test_english_name_matches_cldr(code):
    cldr = babel.Locale("en").languages[code]
    ours = TABLE[code].name
    assert (ours, cldr) == NAME_DIFFERENCES[code] if code in NAME_DIFFERENCES else ours == cldr


@pytest.mark.parametrize("code", sorted(TABLE))
def test_writing_system_matches_cldr_likely_script(code):
    """The table's writing system is CLDR's default script; Hans/Jpan/Kore are writing systems."""
    assert TABLE[code].script == _likely_script(code)


def test_writing_systems_resolve_to_unicode_scripts():
    assert unicode_scripts("Hans") == ("Hani",) and unicode_scripts("Latn") == ("Latn",)
    assert set(unicode_scripts("Jpan")) == {"Hani", "Hira", "Kana"}
    assert set(unicode_scripts("Kore")) == {"Hang", "Hani"}
    for system, parts in WRITING_SYSTEMS.items():
        assert SCRIPTS[system].ucd_prefix is None
        assert all(SCRIPTS[p].ucd_prefix for p in parts)
    # the detector reports Unicode scripts; each table language's letters map back to its system
    samples = {"zh": "人人生而自由", "ja": "すべての人間", "ko": "모든 인간은", "hi": "सभी मनुष्य"}
    for code, text in samples.items():
        found = set(taxonomy.script_profile(text))
        assert found <= set(unicode_scripts(TABLE[code].script)), (code, found)


@pytest.mark.parametrize("code", sorted(SCRIPTS))
def test_script_names_match_cldr(code):
    cldr = babel.Locale("en").scripts[code]
    ours = SCRIPTS[code].name
    expected = SCRIPT_NAME_DIFFERENCES.get(code, (cldr, cldr))
    assert (ours, cldr) == expected


# ----------------------------------------------------------------------------- table integrity
def test_resource_tiers_follow_joshi_and_kazakh_is_medium():
    for lang in LANGUAGES.values():
        assert lang.probe_target and lang.joshi_class is not None and lang.resource_source
        expected = "high" if lang.joshi_class >= 4 else "medium" if lang.joshi_class == 3 else "low"
        assert lang.resource == expected
    assert TABLE["kk"].resource == "medium" and "kk" not in LOW_RESOURCE_LANGS
    assert {"am", "yo", "ha", "zu", "sw", "te", "mr"} <= LOW_RESOURCE_LANGS
    for lang in TABLE.values():
        assert lang.resource in ("high", "medium", "low", "")
        assert bool(lang.resource) == bool(lang.resource_source)


def test_probe_rows_and_other_rows():
    assert len(LANGUAGES) == 27 and list(LANGUAGES) == list(TABLE)[:27]
    for lang in TABLE.values():
        assert lang.script in SCRIPTS
        if lang.probe_target:
            assert lang.target_variant in VARIANTS and lang.udhr_code and lang.cldr_locale == lang.code
            assert lang.flores_code.endswith(tuple(unicode_scripts(lang.script)) + (lang.script,))
        else:
            assert not (lang.target_variant or lang.udhr_code or lang.cldr_locale or lang.flores_code)


# ----------------------------------------------------------------------------- every user resolves
def test_language_references_resolve_into_the_table():
    assert set(SEED_LANGUAGES) | set(ROMANIZED_LANGS) | set(LATIN_LANGS) <= set(LANGUAGES)
    assert all(TABLE[c].script == "Latn" for c in LATIN_LANGS)
    assert all(TABLE[c].script != "Latn" for c in ROMANIZED_LANGS)
    assert set(FLORES_CODES) == set(LANGUAGES)
    assert set(TOKENIZER_LOCALES) <= set(LANGUAGES)
    assert {lang for lang, _ in DIALECTS.values()} | set(DIGIT_ZERO) <= set(LANGUAGES)
    assert taxonomy.EXPECTED_SCRIPT == {c: lang.script for c, lang in TABLE.items()}
    assert taxonomy.LOW_RESOURCE_LANGS is LOW_RESOURCE_LANGS
    assert set(taxonomy.FORMAL_TERMS) <= set(LANGUAGES)
    assert set(taxonomy.UCD_PREFIX_TO_SCRIPT.values()) <= set(SCRIPTS)
    assert set(style.INDIC_SCRIPTS) <= set(SCRIPTS)
    assert style.lang_name("zh") == "Chinese" and style.lang_name("xx") == "xx"
    classes = {c.removesuffix("-Latn") for c in load_model().classes_}
    assert classes == set(LATIN_LANGS) | set(ROMANIZED_LANGS)
    assert tx.script_segment("漢字abc", "Kore") == "漢字"


@pytest.mark.parametrize("name", ["concepts", "udhr", "medical", "udhr_romanized", "edge_cases"])
def test_probe_set_languages_resolve(name):
    ps = load_probe_set(name)
    assert set(ps.languages) <= set(LANGUAGES)
    for meta in ps.unit_meta.values():
        if "expected_variant" in meta:
            assert meta["expected_variant"] in VARIANTS
            assert meta["language_ground_truth"] in LANGUAGES


def test_variant_references_resolve_into_the_list():
    assert VARIANT_NAMES == ("base", "global", "fire", "earth", "water")
    assert list(style.VARIANT_COLORS) == list(VARIANT_NAMES)
    assert {v for k, v in DEFAULT_POLICY.items() if k != "source"} <= set(VARIANTS)
    for spec in REGISTRY.values():
        if spec.family in ("tiny-aya", "tiny-cohere2", "tiny-gemma3"):
            assert spec.variant in VARIANTS
    for v in VARIANTS.values():
        assert REGISTRY[v.model_name].location == v.model_id
        if v.tiny_seed is not None:
            suffix = "" if v.name == "base" else f"-{v.name}"
            assert REGISTRY[f"tiny-cohere2{suffix}"].seed == v.tiny_seed


def test_quant_syntax():
    assert split_quant("tiny-aya-fire@int4-g128") == ("tiny-aya-fire", "int4-g128")
    assert split_quant("gemma-3-270m") == ("gemma-3-270m", "")
    assert with_quant("a", "int8-pc") == "a@int8-pc" and with_quant("a", "") == "a"
    assert QUANT_SPEC.match("int3-pc-keep0.1") and not QUANT_SPEC.match("int4")
