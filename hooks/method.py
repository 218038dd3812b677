"""Method metadata and the one compatibility check: what a result records, what must agree.

Every stored dataset records :data:`RECORDED` (model id, weights sha256, TransformerLens
version, processing mode, pooling, hook sites, dtype, probe-set hash, toolkit version,
creation time). Two things are compared only when the keys of the matching comparison agree:

- :data:`STORE_KEYS`: an activation store being resumed or merged (its whole :class:`Method`),
  plus :data:`VARIANT_KEYS` per variant (the same label must mean the same weights);
- :data:`METHOD_KEYS`: two activation datasets; :data:`EDGE_KEYS`: edge-case data against
  concept results; :data:`REGRESS_KEYS`: two result sets in a regression gate (a new model
  is the point there, so no weights);
- :data:`LIVE_KEYS`: two loaded models patched / diffed position by position.

Torch-free and xarray-free, at the ``hooks`` layer so that ``hooks.models`` uses it too;
``storage``, ``analysis``, ``figures`` and ``pipelines`` import it from here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from importlib.metadata import version
from typing import Any

import numpy as np

from polylens.errors import IncompatibleVariantsError
from polylens.hooks.sites import LAYER_CONVENTION, content_rule, hook_templates

TOOLKIT = "polylens"

#: attrs every stored activation dataset carries (docs/CONVENTIONS.md)
RECORDED = (
    "model_id",
    "weights_sha256",
    "transformer_lens_version",
    "processing_mode",
    "pooling",
    "hook_sites",
    "dtype",
    "probe_set_sha256",
    "toolkit_version",
    "created",
)
#: activation datasets compared with each other
METHOD_KEYS = ("weights_sha256", "processing_mode", "pooling", "probe_set_sha256")
#: edge-case data checked against the concept results it is read with
EDGE_KEYS = ("weights_sha256", "processing_mode", "pooling")
#: result sets in a regression gate; weights_sha256 is deliberately NOT here
REGRESS_KEYS = (
    "processing_mode",
    "pooling",
    "probe_set_sha256",
    "analysis_ref",
    "analysis_tau",
    "analysis_k",
    "analysis_null_quantile",
    "analysis_ci_level",
    "analysis_method_version",
    "analysis_unit_dim",
)
#: one variant label in a store (or across shards) must name one set of weights
VARIANT_KEYS = ("weights_sha256",)
#: live models compared position by position (``hooks.models.check_comparable``)
LIVE_KEYS = ("tokenizer_sha256", "n_layers", "d_model", "processing_mode")
#: how a differing key reads in an error message
_READS_AS = {
    "tokenizer_sha256": "tokenizers",
    "processing_mode": "processing modes",
    "n_layers": "layer counts",
    "d_model": "widths",
    "weights_sha256": "weights",
    "probe_set_sha256": "probe sets",
}


@dataclass(frozen=True)
class Method:
    """What makes two captures into one store comparable (besides each variant's weights)."""

    probe_set: str
    probe_set_sha256: str
    unit_dim: str
    pooling: str
    sites: tuple[str, ...]
    dtype: str
    processing_mode: str
    strip_trailing_punct: bool = True

    def as_dict(self) -> dict:
        """The manifest form (JSON-ready: ``sites`` as a list)."""
        return asdict(self) | {"sites": list(self.sites)}


#: a store's method must match in every field
STORE_KEYS = tuple(Method.__dataclass_fields__)


def decode_attr(v: Any) -> Any:
    """Attrs may be stored as JSON strings (dicts such as per-variant weights_sha256)."""
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, str) and v[:1] in "{[":
        try:
            return json.loads(v)
        except ValueError:
            return v
    return v


def netcdf_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Attrs made netCDF-safe: dicts/lists of non-numbers -> JSON, None -> '', bool -> int."""
    out: dict[str, Any] = {}
    for k, v in attrs.items():
        if v is None:
            out[k] = ""
        elif isinstance(v, bool | np.bool_):
            out[k] = int(v)
        elif isinstance(v, dict) or (
            isinstance(v, list | tuple) and not all(isinstance(x, int | float) for x in v)
        ):
            out[k] = json.dumps(v, sort_keys=True, default=str)
        elif isinstance(v, list | tuple):
            out[k] = list(v)
        else:
            out[k] = v
    return out


def differences(a: Mapping[str, Any], b: Mapping[str, Any], keys: Iterable[str]) -> dict[str, tuple]:
    """``key -> (a value, b value)`` for every key of ``keys`` on which ``a`` and ``b`` disagree.

    A key missing on both sides agrees; missing on one side only differs. Per-variant dict
    values (e.g. ``weights_sha256`` of a dataset) are compared on the variants both share.
    """
    out = {}
    for key in keys:
        va, vb = decode_attr(a.get(key)), decode_attr(b.get(key))
        if isinstance(va, dict) and isinstance(vb, dict):
            bad = sorted(v for v in set(va) & set(vb) if va[v] != vb[v])
            if bad:
                out[f"{key}[{','.join(bad)}]"] = ({v: va[v] for v in bad}, {v: vb[v] for v in bad})
        elif va != vb:
            out[key] = (va, vb)
    return out


def describe(diffs: Mapping[str, tuple]) -> str:
    """One line naming each difference (long hashes shortened to 12 characters)."""

    def short(v: Any) -> str:
        """``repr(v)``, long strings cut to 12 characters."""
        return repr(v[:12] + "...") if isinstance(v, str) and len(v) > 40 else repr(v)

    parts = []
    for key, (va, vb) in diffs.items():
        reads = _READS_AS.get(key.partition("[")[0])
        parts.append(
            f"{'different ' + reads + ' (' if reads else ''}{key}: {short(va)} != {short(vb)}"
            + (")" if reads else "")
        )
    return "; ".join(parts)


def check_compatible(
    a: Mapping[str, Any], b: Mapping[str, Any], keys: Iterable[str] = METHOD_KEYS, what: str = "datasets"
) -> None:
    """Raise IncompatibleVariantsError naming every key of ``keys`` whose value differs."""
    diffs = differences(a, b, keys)
    if diffs:
        raise IncompatibleVariantsError(
            f"refusing to compare {what} with different method metadata: {describe(diffs)}"
        )


def dataset_attrs(manifest: dict) -> dict:
    """netCDF attrs of an activation dataset: the method plus per-variant provenance (JSON)."""
    method, variants = manifest["method"], manifest["variants"]
    per_variant = {
        key: json.dumps({v: p[key] for v, p in sorted(variants.items())})
        for key in ("model_id", "weights_sha256")
    }
    first = next(iter(variants.values()))
    return {
        **per_variant,
        "variants_provenance": json.dumps(variants, sort_keys=True),
        "processing_mode": method["processing_mode"],
        "pooling": method["pooling"],
        "hook_sites": json.dumps(hook_templates(method["sites"])),
        "sites": ",".join(method["sites"]),
        "dtype": method["dtype"],
        "probe_set": method["probe_set"],
        "probe_set_sha256": method["probe_set_sha256"],
        "unit_dim": method["unit_dim"],
        "strip_trailing_punct": int(method["strip_trailing_punct"]),
        "content_tokens": content_rule(method["strip_trailing_punct"]),
        "layer_convention": LAYER_CONVENTION,
        "transformer_lens_version": first["transformer_lens_version"],
        "transformers_version": first["transformers_version"],
        "torch_version": first["torch_version"],
        "toolkit_version": f"{TOOLKIT} {version(TOOLKIT)}",
        "created": manifest["created"],
    }
