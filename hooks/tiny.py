"""Tiny random models of real architectures (Cohere2 = Tiny Aya, Gemma3 text), built offline.

They exercise every code path that a hub model would (the same HF classes, the same
TransformerLens adapters) without a download: the tests' stand-ins for Tiny Aya.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

import torch

if TYPE_CHECKING:
    from transformers import PretrainedConfig

TOKENIZER_FILE = Path(__file__).parent / "data" / "tiny_tokenizer.json"
TOKENIZER_LOCALES = (
    "en",
    "fr",
    "es",
    "pt",
    "de",
    "ru",
    "hi",
    "bn",
    "ta",
    "ar",
    "he",
    "am",
    "sw",
    "yo",
    "zh",
    "ja",
    "ko",
    "kk",
    "id",
    "tr",
    "fa",
    "ur",
    "vi",
)
SPECIAL_TOKENS = ["<pad>", "<bos>", "<eos>", "<unk>"]


def tokenizer_corpus() -> list[str]:
    """Real multilingual text available offline: CLDR language and territory names (babel)."""
    import babel

    lines = []
    for code in TOKENIZER_LOCALES:
        locale = babel.Locale.parse(code)
        lines += [f"{name}." for _, name in sorted(locale.languages.items())]
        lines += [f"{name}." for _, name in sorted(locale.territories.items())]
    return lines


def build_tokenizer_file(path: Path = TOKENIZER_FILE, vocab_size: int = 2048) -> Path:
    """Train the byte-level BPE tokenizer shipped for tiny models (covers every script)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(tokenizer_corpus(), trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A <bos> $B", special_tokens=[("<bos>", 1)]
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tok.save(str(path))
    return path


def load_tiny_tokenizer():
    """The shipped tiny tokenizer as a transformers fast tokenizer (left padding off: right)."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_file=str(TOKENIZER_FILE),
        bos_token="<bos>",
        eos_token="<eos>",
        pad_token="<pad>",
        unk_token="<unk>",
        padding_side="right",
    )


class _TinyShape(TypedDict):
    """The size/attention fields shared by every tiny config (typed as the config classes take them)."""

    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    max_position_embeddings: int
    sliding_window: int
    layer_types: list[str]
    pad_token_id: int
    bos_token_id: int
    eos_token_id: int


def tiny_config(arch: str, vocab_size: int) -> PretrainedConfig:
    """A 4-block config of the named architecture; sliding and full attention layers both occur."""
    common = _TinyShape(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        sliding_window=6,
        layer_types=["sliding_attention", "full_attention"] * 2,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
    )
    cfg: PretrainedConfig
    if arch == "cohere2":
        from transformers import Cohere2Config  # head_dim = hidden_size / heads = 16 by construction

        cfg = Cohere2Config(**common, logit_scale=1.0, tie_word_embeddings=True)
        cfg.architectures = ["Cohere2ForCausalLM"]
    elif arch == "gemma3":
        from transformers import Gemma3TextConfig

        cfg = Gemma3TextConfig(**common, head_dim=16, query_pre_attn_scalar=16)
        cfg.architectures = ["Gemma3ForCausalLM"]
    else:
        raise ValueError(f"no tiny config for architecture {arch!r}")
    return cfg


def build_tiny_model(arch: str, out_dir: Path, seed: int = 0, perturb: float = 0.0) -> Path:
    """Write a seeded random model (+ tokenizer) as a Hugging Face folder.

    ``perturb`` > 0 adds seeded Gaussian noise of that relative scale to every weight of
    the ``seed``-0 model: a stand-in for a fine-tuned variant of the same base.
    """
    from transformers import AutoModelForCausalLM

    tok = load_tiny_tokenizer()
    torch.manual_seed(0 if perturb else seed)
    model = AutoModelForCausalLM.from_config(tiny_config(arch, len(tok)), dtype=torch.float32)
    if perturb:
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn(p.shape, generator=gen) * perturb * p.std().clamp_min(1e-3))
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    return out_dir
