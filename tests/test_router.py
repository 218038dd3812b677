"""Tests for analysis/routing (issue 9): romanized detection, scripts, rules from results, CLI, determinism."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import unicodedata
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from polylens import probes  # noqa: E402
from polylens.analysis import taxonomy  # noqa: E402
from polylens.analysis.routing import (  # noqa: E402
    Router,
    build_rules,
    load_rules,
    ngram,  # noqa: E402
    write_rules,
)
from polylens.analysis.routing import text as tx  # noqa: E402
from polylens.errors import RouterInputError, StorageError  # noqa: E402
from polylens.probes.languages import LATIN_LANGS  # noqa: E402


@pytest.fixture(scope="module")
def router():
    return Router.load()


def _run_cli(*args, stdin: bytes | None = None, env=None):
    return subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "route", *args],
        input=stdin,
        capture_output=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )


# ------------------------------------------------------------------ romanized detection
def test_romanized_detected_on_heldout_units_and_not_on_latin_negatives(router):
    held = ngram.heldout_set()
    assert len(held) == 16 and "a01.p1" in held  # a01.p1 is an edge-case item: must be held out
    meta = ngram.load_model().meta_["training"]
    assert set(meta["heldout_udhr_units"]) == held
    assert {"fever", "malaria", "vaccine", "hospital", "doctor"} <= set(meta["excluded_medical_units"])
    pos = [s for s in probes.load_probe_set("udhr_romanized").stimuli if s.unit in held]
    assert len(pos) == 16 * 5
    for s in pos:
        for text in (s.text, s.text[:30]):
            d = router.route(text)
            assert d.romanized and d.lang == s.lang, (s.unit, s.lang, text, d.reasons)
            assert d.variant == "global" and d.category == "TRANSLITERATION"
    neg = [s for s in probes.load_probe_set("udhr").stimuli if s.unit in held and s.lang in LATIN_LANGS]
    assert len(neg) == 16 * 12
    wrong = [(s.lang, s.unit) for s in neg if router.route(s.text).romanized]
    assert not wrong


def test_heldout_units_really_unseen_by_the_model():
    """Retraining with a held-out unit added must change the counts (so exclusion is real)."""
    texts, labels, prov = ngram.training_corpus(romanize_medical=False)
    rom = probes.load_probe_set("udhr_romanized")
    held_texts = {s.text for s in rom.stimuli if s.unit in ngram.heldout_set()}
    assert not held_texts & set(texts)
    edge_texts = {s.text for s in probes.load_probe_set("edge_cases").stimuli}
    assert not edge_texts & set(texts)


@pytest.mark.skipif(not __import__("importlib").util.find_spec("uroman"), reason="uroman not installed")
def test_committed_model_rebuilds_identically(tmp_path):
    new = ngram.CharNgramNB.load(ngram.build_model(tmp_path / "m.npz"))
    old = ngram.load_model()
    assert new.classes_ == old.classes_ and new.grams_ == old.grams_
    np.testing.assert_array_equal(new.counts_, old.counts_)


def test_naive_bayes_learns_a_toy_problem():
    nb = ngram.CharNgramNB(min_count=1).fit(
        ["aaaa aaa", "aa aaaa a", "bbbb bb", "bbb b bbbb"], ["A", "A", "B", "B"]
    )
    assert nb.predict("aaa")[0] == "A" and nb.predict("bb b")[0] == "B"
    p = nb.predict_proba("zzz")  # unseen n-grams only -> uniform
    assert p == pytest.approx([0.5, 0.5])


# ------------------------------------------------------------------ scripts and language
@pytest.mark.parametrize(
    "text,script,lang",
    [
        ("সংক্রমণ দ্রুত ছড়িয়ে পড়ল।", "Beng", "bn"),
        ("குழந்தைக்கு காய்ச்சல்", "Taml", "ta"),
        ("የሰው ልጅ ሁሉ ሲወለድ ነጻ", "Ethi", "am"),
        ("すべての人間は、生まれながらにして自由", "Jpan", "ja"),
        ("人人生而自由，在尊严和权利上一律平等。", "Hani", "zh"),
        ("모든 인간은 태어날 때부터 자유로우며", "Hang", "ko"),
        ("כל בני אדם נולדו בני חורין", "Hebr", "he"),
        ("The old man has difficulty ለመተንፈስ.", "Latn", "en"),
        ("बच्चे को तेज़ fever है।", "Deva", "hi"),
        ("12345 !!!", None, None),
        ("สวัสดีครับ ยินดีต้อนรับ", "Thai", None),
    ],
)
def test_script_detection(router, text, script, lang):
    d = router.route(text)
    assert d.script == script and d.lang == lang, d.reasons
    if lang is None:
        assert d.variant == "base"


@pytest.mark.parametrize("lang", ["hi", "mr", "ar", "fa", "ur", "ru", "kk", "zh", "ja"])
def test_shared_script_languages_identified_on_heldout_units(router, lang):
    held = ngram.heldout_set()
    items = [s for s in probes.load_probe_set("udhr").stimuli if s.lang == lang and s.unit in held]
    ok = sum(router.route(s.text).lang == lang for s in items)
    assert ok >= len(items) - 1, (lang, ok, len(items))


def test_script_helpers():
    assert tx.dominant_script(taxonomy.script_profile("abc")) == "Latn"
    assert tx.dominant_script(taxonomy.script_profile("漢字かな")) == "Jpan"
    assert tx.dominant_script(taxonomy.script_profile("123")) is None
    assert tx.script_segment("The गर्भवती woman", "Latn") == "The woman"
    assert tx.normalise("a\u200db\u202b c\u1361d") == "ab c d"


def test_unicode_prefilter_never_hides_a_detection():
    n = 0
    for name in ("edge_cases", "udhr", "medical"):
        for s in probes.load_probe_set(name).stimuli:
            for t in (s.text, s.text + "\ufe0f", "٣ " + s.text, "\u2066" + s.text, "e\u0301" + s.text):
                if taxonomy.detect_unicode_edge(t):
                    n += 1
                    assert tx.maybe_unicode_edge(t), t
    assert n > 1000


def _unicode_edge_by_char(text: str) -> str | None:
    """``detect_unicode_edge``'s definition, one character at a time (the reference)."""
    zw = Counter(taxonomy._ZW[c] for c in text if c in taxonomy._ZW)
    found = [f"{k}x{v}" for k, v in sorted(zw.items())]
    bidi = Counter(taxonomy._BIDI[c] for c in text if c in taxonomy._BIDI)
    found += [f"bidi:{k}x{v}" for k, v in sorted(bidi.items())]
    if unicodedata.normalize("NFC", text) != text:
        found.append("NFD" if unicodedata.normalize("NFD", text) == text else "non-NFC")
    digits = sorted({c for c in text if unicodedata.category(c) == "Nd" and not ("0" <= c <= "9")})
    if digits:
        found.append(
            "non-ASCII digits " + "".join(digits) + f" ({unicodedata.name(digits[0]).split(' DIGIT')[0]})"
        )
    vs = sum(1 for c in text if 0xFE00 <= ord(c) <= 0xFE0F or 0xE0100 <= ord(c) <= 0xE01EF)
    if vs:
        found.append(f"variation selectors x{vs}")
    return "; ".join(found) or None


def test_unicode_edge_regexes_match_the_per_character_definition():
    extra = (
        "",
        "\ufe0f",
        "\U000e0101",
        "٣ ",
        "१२",
        "\u2066",
        "\u200e\u200c\ufeff",
        "e\u0301",
        "\u1e9b\u0323",
    )
    n = 0
    for name in ("edge_cases", "udhr", "medical"):
        for s in probes.load_probe_set(name).stimuli[::3]:
            for e in extra:
                t = e + s.text + e
                assert taxonomy.detect_unicode_edge(t) == _unicode_edge_by_char(t), t[:80]
                n += 1
    assert n > 4000


# ------------------------------------------------------------------ routing
def test_default_routing_without_rules_says_so(router):
    d = router.route("Kila mtu anayo haki ya kupumzika na kupata starehe.")
    assert d.lang == "sw" and d.variant == "earth"
    assert any("no rules file" in r and "probes.LANGUAGES" in r for r in d.reasons)


def test_edge_case_accuracy_floor(router):
    ps = probes.load_probe_set("edge_cases")
    res = {}
    for s in ps.stimuli:
        res.setdefault(s.meta["failure_category"], []).append(
            router.route(s.text).variant == s.meta["expected_variant"]
        )
    assert all(res["TRANSLITERATION"]) and all(res["CODE_SWITCH"])
    assert sum(map(sum, res.values())) / sum(map(len, res.values())) >= 0.8


def test_decisions_are_deterministic(router, tmp_path):
    texts = [s.text for s in probes.load_probe_set("edge_cases").stimuli]
    first = [router.route(t).to_dict() for t in texts]
    assert first == [Router.load().route(t).to_dict() for t in texts]
    batch = tmp_path / "batch.txt"
    batch.write_text("\n".join(t.replace("\n", " ") for t in texts) + "\n", encoding="utf-8")
    outs = []
    for seed in ("1", "2"):
        r = _run_cli("--file", str(batch), "--json", env={**os.environ, "PYTHONHASHSEED": seed})
        assert r.returncode == 0, r.stderr
        outs.append(r.stdout)
    assert outs[0] == outs[1]
    assert [json.loads(x)["variant"] for x in outs[0].splitlines()] == [d["variant"] for d in first]


# ------------------------------------------------------------------ rules
@pytest.fixture(scope="module")
def synthetic_results(tmp_path_factory):
    from polylens.analysis.routing.synthetic import write_results

    return write_results(tmp_path_factory.mktemp("synres"))


def test_rules_from_synthetic_results_route_only_significant_planted_effects(synthetic_results, tmp_path):
    from polylens.analysis.routing.synthetic import EXPECTED_ROUTES

    rules = build_rules(synthetic_results)
    assert {g: e["variant"] for g, e in rules["languages"].items()} == EXPECTED_ROUTES
    prov = rules["provenance"]
    assert set(prov["files_sha256"]) == {"stats.csv", "alignment.nc", "commitment_matrix.csv"}
    assert prov["results_attrs"]["model_id"] == "synthetic-planted"
    assert rules["test"]["metric"] == "margin_auc" and rules["test"]["alpha"] == 0.05
    # am: earth and water both beat base significantly; the larger effect (earth) wins
    cands = {c["variant"]: c for c in rules["languages"]["am"]["candidates"]}
    assert cands["earth"]["supported"] and cands["water"]["supported"]
    assert not cands["fire"]["supported"]
    path = write_rules(rules, tmp_path / "rules.json")
    r = Router.load(path)
    assert r.route("बच्चे को बहुत तेज़ बुखार है और वह कमज़ोर है।").variant == "fire"
    assert r.route("Mtoto ana homa kali sana leo asubuhi.").variant == "base"  # not significant
    assert r.route("L'enfant a une forte fièvre depuis hier.").variant == "base"  # water worse
    d = r.route("Барлық адамдар тумысынан азат және қадір-қасиеті мен құқықтары тең")
    assert d.variant == "base" and any("not in the rules" in x for x in d.reasons)  # kk not analysed
    # stricter alpha removes every route
    assert {e["variant"] for e in build_rules(synthetic_results, alpha=1e-6)["languages"].values()} == {
        "base"
    }


def _stats(tmp_path, rows):
    cols = [
        "scope",
        "metric",
        "variant_a",
        "variant_b",
        "lang",
        "layer",
        "n",
        "diff",
        "diff_ci_lo",
        "diff_ci_hi",
        "p",
        "p_bh",
        "significant",
    ]
    with open(tmp_path / "stats.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, cols)
        w.writeheader()
        for r in rows:
            w.writerow(
                {
                    "scope": "language",
                    "layer": -1,
                    "n": 30,
                    "p": r["p_bh"],
                    "significant": r["p_bh"] < 0.05,
                    **r,
                }
            )
    return tmp_path


def test_rule_thresholds_and_directions(tmp_path):
    rows = [
        dict(
            metric="margin_auc",
            variant_a="fire",
            variant_b="base",
            lang="hi",
            diff=0.1,
            diff_ci_lo=0.05,
            diff_ci_hi=0.15,
            p_bh=0.01,
        ),
        dict(
            metric="margin_auc",
            variant_a="fire",
            variant_b="base",
            lang="bn",
            diff=0.1,
            diff_ci_lo=0.05,
            diff_ci_hi=0.15,
            p_bh=0.051,
        ),
        dict(
            metric="margin_auc",
            variant_a="fire",
            variant_b="base",
            lang="ta",
            diff=0.1,
            diff_ci_lo=-0.01,
            diff_ci_hi=0.2,
            p_bh=0.01,
        ),
        dict(
            metric="margin_auc",
            variant_a="earth",
            variant_b="base",
            lang="am",
            diff=-0.1,
            diff_ci_lo=-0.15,
            diff_ci_hi=-0.05,
            p_bh=0.001,
        ),
        dict(
            metric="margin_auc",
            variant_a="base",
            variant_b="earth",
            lang="sw",
            diff=-0.1,
            diff_ci_lo=-0.15,
            diff_ci_hi=-0.05,
            p_bh=0.001,
        ),
        dict(
            metric="commit",
            variant_a="fire",
            variant_b="base",
            lang="hi",
            diff=-3,
            diff_ci_lo=-5,
            diff_ci_hi=-1,
            p_bh=0.01,
        ),
    ]
    d = _stats(tmp_path, rows)
    got = {g: e["variant"] for g, e in build_rules(d)["languages"].items()}
    assert got == {"hi": "fire", "bn": "base", "ta": "base", "am": "base", "sw": "earth"}
    assert build_rules(d, require_ci=False)["languages"]["ta"]["variant"] == "fire"
    assert build_rules(d, min_diff=0.2)["languages"]["hi"]["variant"] == "base"
    assert build_rules(d, metric="commit")["languages"]["hi"]["variant"] == "fire"  # lower is better
    with pytest.raises(StorageError):
        build_rules(tmp_path / "missing")
    with pytest.raises(StorageError):
        build_rules(d, metric="nope")
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(StorageError):
        load_rules(tmp_path / "bad.json")


def test_cli_build_and_route_with_rules(synthetic_results, tmp_path):
    out = tmp_path / "r.json"
    r = _run_cli("build", "--results", str(synthetic_results), "--out", str(out))
    assert r.returncode == 0 and "hi->fire" in r.stdout.decode(), r.stderr
    assert json.loads(out.read_text())["format"] == "polylens-router-rules/1"
    r = _run_cli("आदमी को बहुत cough है।", "--rules", str(out), "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["variant"] == "fire"


# ------------------------------------------------------------------ bad input
def test_check_text_contract():
    assert tx.check_text("héllo".encode()) == "héllo"
    for bad in (
        "",
        "  \n\t",
        b"\xff\xfe",
        "a\x00b",
        "\x01\x02\x03\x04",
        "x" * (tx.MAX_CHARS + 1),
        "a\udcffb",
        42,
    ):
        with pytest.raises(RouterInputError):
            tx.check_text(bad)


@pytest.mark.parametrize(
    "args,stdin",
    [
        ([""], None),
        (["   "], None),
        (["-"], b"ab\xff\xfecd"),
        (["-"], bytes(range(256)) * 4),
        (["-"], b"\x00\x01\x02 binary \x00"),
        (["-"], b"a" * (4 * 100_000 + 10)),
        (["hello", "--rules", "/nonexistent/rules.json"], None),
        (["--file", "/nonexistent/batch.txt"], None),
        (["build"], None),
        (["build", "--results", "/nonexistent/results"], None),
    ],
    ids=[
        "empty",
        "blank",
        "bad-utf8",
        "binary-bytes",
        "nul-bytes",
        "enormous",
        "missing-rules",
        "missing-batch",
        "build-no-results",
        "build-missing-results",
    ],
)
def test_cli_bad_inputs_exit_2_with_one_line(args, stdin, tmp_path):
    if stdin is not None and len(stdin) > 65536:  # a file, so the writer never sees EPIPE
        big = tmp_path / "stdin.bin"
        big.write_bytes(stdin)
        with open(big, "rb") as fh:
            r = subprocess.run(
                [sys.executable, str(ROOT / "cli.py"), "route", *args],
                stdin=fh,
                capture_output=True,
                cwd=ROOT,
                timeout=120,
            )
    else:
        r = _run_cli(*args, stdin=stdin)
    assert r.returncode == 2, (r.returncode, r.stderr)
    err = r.stderr.decode()
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err


def test_cli_batch_reports_bad_lines_and_keeps_good_ones(tmp_path):
    f = tmp_path / "b.txt"
    f.write_bytes(b"Mtoto ana homa kali.\nbad \xff line\n\nThe patient has a fever.\n")
    r = _run_cli("--file", str(f))
    out = r.stdout.decode().splitlines()
    assert r.returncode == 2 and r.stderr.decode().count("\n") == 1
    assert (
        out[0].startswith("1: earth") and out[1].startswith("2: error: ") and out[2].startswith("4: global")
    )


# ------------------------------------------------------------------ import hygiene
def test_router_never_imports_torch_or_transformer_lens(tmp_path):
    code = (
        "import sys, json\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from analysis.routing import Router, build_rules\n"
        "from analysis.routing.evaluate import evaluate\n"
        "import cli\n"
        "d = Router.load().route('बच्चे को तेज़ fever है।')\n"
        "cli.main(['route', 'mujhe bahut tez bukhar hai'])\n"
        "bad = [m for m in ('torch', 'transformer_lens', 'transformers') if m in sys.modules]\n"
        "print(json.dumps(bad))\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1]) == []


def test_single_variant_results_route_everything_to_base(tmp_path):
    """Results with one variant (the embedded Gemma model) have no comparisons: all -> base."""
    (tmp_path / "stats.csv").write_text('""\n')
    rules = build_rules(tmp_path)
    assert rules["languages"] == {} and rules["notes"]
    r = Router(rules)
    d = r.route("बच्चे को बहुत तेज़ बुखार है।")
    assert d.variant == "base" and any("not in the rules" in x for x in d.reasons)


# ------------------------------------------------------------------ code-switched input (issue 18)
from polylens.analysis.routing import cs_eval, mixed  # noqa: E402
from polylens.probes import codeswitch  # noqa: E402


def _shares(d) -> dict[str, float]:
    return {s["lang"] + ("-Latn" if s["romanized"] else ""): s["share"] for s in d.languages}


def test_issue_example_names_hindi_and_english_with_shares(router):
    d = router.route("मेरे बच्चे को fever है and he is not eating")
    shares = _shares(d)
    assert set(shares) == {"hi", "en"}, d.reasons
    assert shares["en"] == pytest.approx(21 / 34, abs=1e-3) and shares["hi"] == pytest.approx(
        13 / 34, abs=1e-3
    )
    assert d.mixed and d.variant == "global" and d.category == "CODE_SWITCH"
    assert "mixed input" in d.reasons[-1] and "hi 38%" in d.reasons[-1]


def test_single_inserted_word_is_named_but_routed_by_matrix_language(router):
    d = router.route("बच्चे को तेज़ fever है।")
    assert set(_shares(d)) == {"hi", "en"} and not d.mixed
    assert d.lang == "hi" and d.variant == "fire"


def test_romanized_hindi_mixed_with_english_keeps_the_romanized_label(router):
    d = router.route("mujhe bahut tez bukhar hai and he is not eating")
    assert d.mixed and {"hi-Latn", "en"} <= set(_shares(d)), d.reasons
    assert d.variant == "global"


@pytest.mark.parametrize("lang", ["hi", "bn"])
def test_romanized_heldout_units_stay_one_romanized_language(router, lang):
    held = ngram.heldout_set()
    for s in probes.load_probe_set("udhr_romanized").stimuli:
        if s.lang == lang and s.unit in held:
            d = router.route(s.text)
            assert d.romanized and d.lang == lang and not d.mixed, (s.unit, d.reasons)
            assert d.languages[0]["lang"] == lang and d.languages[0]["romanized"]


def test_mixed_policy_comes_from_the_rules_file():
    rules = {"format": "polylens-router-rules/1", "languages": {}, "policy": {"MIXED": "base"}}
    d = Router(rules).route("मेरे बच्चे को fever है and he is not eating")
    assert d.mixed and d.variant == "base"


def test_codeswitch_set_rebuilds_byte_identically(tmp_path):
    out = codeswitch.build_codeswitch(tmp_path / "codeswitch.json")
    assert out.read_bytes() == codeswitch.DEFAULT_PATH.read_bytes()
    items = codeswitch.load_items()
    held = set(ngram.heldout_set())
    assert all(i["id"].split("-")[1] in held for i in items)
    for it in items:  # gold spans cover the text and shares sum to 1
        assert sum(it["gold_shares"].values()) == pytest.approx(1, abs=1e-3)
        assert " ".join(it["text"][a:b] for _, a, b in it["segments"]) == it["text"]


def test_phrase_cutting():
    assert codeswitch.phrases("one two, three four; five.") == ["one two,", "three four;", "five."]
    assert codeswitch.phrases("one two three four") == ["one two", "three four"]
    assert codeswitch.phrases("人人生而自由") == ["人人生", "而自由"]


def test_vectorised_ngram_scores_equal_the_naive_bayes_scores(router):
    for s in probes.load_probe_set("udhr").stimuli[:200]:
        a, n = router.nb.scores(s.text)
        b, m = mixed.text_scores(router.mixer.index, s.text)
        assert n == m and np.allclose(a, b, rtol=1e-4)  # nb.scores sums in float32
    for s in probes.load_probe_set("udhr").stimuli[:200:7]:  # the shared pass, whole text = the naive Bayes
        pre = mixed.LatinScores.of(router.mixer.index, s.text)
        want = mixed.text_proba(router.mixer.index, s.text)
        assert np.allclose(pre.prefix_proba(10**6), want, rtol=1e-5, atol=1e-12), s.text[:60]
    pre = mixed.LatinScores.of(router.mixer.index, "Human, beings 12 are")  # words start at 0, 6, 13
    assert pre.words == ["human", "beings", "are"]
    for n_chars, k in ((1, 1), (6, 1), (7, 2), (13, 2), (14, 3)):
        want = mixed.posterior(pre.scores[:k].sum(0), int(pre.grams[:k].sum()))
        assert np.array_equal(pre.prefix_proba(n_chars), want), n_chars
    w = ["all", "human", "beings"]
    assert mixed.word_scores(router.mixer.index, w)[0].sum(0) == pytest.approx(
        router.nb.scores("all human beings")[0], rel=1e-5
    )


def _router_inputs() -> list[str]:
    """Every text the router benchmark routes (edge cases, UDHR, code-switching) + tiny inputs."""
    texts = [s.text for name in ("edge_cases", "udhr") for s in probes.load_probe_set(name).stimuli]
    return texts + [i["text"] for i in codeswitch.load_items()] + ["", "a", "!!", "😀", "ab" * 3]


def test_vectorised_langid_equals_py3langid_on_every_router_input():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    from polylens.analysis import lid

    ref = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    fast = lid.load_identifier()
    assert fast._depth == lid.trie_depth(fast._nm, fast._rows) >= 4  # byte 1..4-grams at least
    langs = ["en", "fr", "de", "es", "sw", "id"]
    ref_r, fast_r = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True), lid.restricted(langs)
    ref_r.set_languages(langs)
    for t in _router_inputs():
        assert fast.classify(t) == ref.classify(t), t[:60]  # same label, bit-identical confidence
        assert fast_r.classify(t[:200]) == ref_r.classify(t[:200]), t[:60]


def test_translate_tables_equal_the_per_character_rules():
    from polylens.probes.scripts import unicode_scripts

    def segment(text, script):
        keep = set(unicode_scripts(script)) | {script}
        kept = (ch if (sc := taxonomy.char_script(ch)) is None or sc in keep else " " for ch in text)
        return " ".join("".join(kept).split())

    def runs(text):
        out = []
        for word in text.split():
            scripts = [sc for ch in word if (sc := taxonomy.char_script(ch))]
            if not scripts:
                continue
            key = "CJK" if scripts[0] in ("Hani", "Hira", "Kana") else scripts[0]
            kana = key == "CJK" and any(sc in ("Hira", "Kana") for sc in scripts)
            if out and out[-1][0] == key:
                out[-1] = (key, out[-1][1] + [word], out[-1][2] + len(scripts), out[-1][3] or kana)
            else:
                out.append((key, [word], len(scripts), kana))
        return out

    texts = _router_inputs() + ["日本語のテキスト 漢字 カタカナ abc", "x\u00a0y \x1c z\u2003w", "12 !! 中文"]
    for t in texts:
        assert mixed.script_runs(t) == runs(t), t[:60]
        for script in ("Latn", "Deva", "Arab", "Hani", "Jpan", "Cyrl"):
            assert tx.script_segment(t, script) == segment(t, script), (script, t[:60])


def test_smoothing_and_short_stretches():
    scores = np.array([[5.0, 0], [5, 0], [0, 1], [5, 0], [5, 0], [0, 9], [0, 9], [0, 9]])
    lab = mixed.smooth_labels(scores, window=0)
    assert lab.tolist() == [0, 0, 0, 0, 0, 1, 1, 1]  # the one-word island joins its left neighbour
    assert mixed.merge_short([0, 2, 3, 8], min_words=3) == [0, 3, 8]
    assert mixed.merge_short([0, 1, 8], min_words=3) == [0, 8]


def test_codeswitch_evaluation_floors(router):
    res = cs_eval.evaluate_codeswitch(router)
    tp, fp, fn = (sum(res[k].values()) for k in ("tp", "fp", "fn"))
    assert tp / (tp + fp) >= 0.97 and tp / (tp + fn) >= 0.93
    mixed_items, mono = res["kinds"]["mixed"], res["kinds"]["mono"]
    assert mixed_items["routed as mixed"] / mixed_items["n"] >= 0.85
    assert mono["routed as mixed"] / mono["n"] <= 0.02
    assert res["share_mae"] < 0.1
