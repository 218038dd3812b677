"""Issue-7 pipeline: load variants, run the measurements, write labelled results.

Output directory layout (default ``runs/quant/``):

- ``scores/<variant>.nc``: raw per-text scores of one model variant (``score_texts``),
  reused by later commands (resume: a file whose probe set, units and languages match is
  not recomputed).
- ``weights.nc``, ``evaluate.nc``, ``sinks.nc``, ``heads.nc``: results with CI bounds and
  the method metadata (model provenance, quant config, probe-set sha256).
- ``summary_<command>.md``: a short markdown summary of each.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import xarray as xr

from errors import StorageError

DEFAULT_OUT = Path("runs/quant")


def _safe(name: str) -> str:
    return name.replace("/", "_").replace("@", "__")


def _select(probe_set_name: str, langs, units_limit):
    import probes

    ps = probes.load_probe_set(probe_set_name)
    langs = list(langs) if langs else list(ps.languages)
    units = ps.units[:units_limit] if units_limit else list(ps.units)
    return ps.select(langs=langs, units=units), langs, units


def load_scores(path: Path) -> xr.Dataset:
    try:
        return xr.load_dataset(path)
    except (OSError, ValueError) as exc:
        raise StorageError(f"{path}: unreadable scores file ({exc}); delete it to recompute") from None


def score_variant(name: str, out: Path = DEFAULT_OUT, probe_set: str = "udhr", langs=None,
                  units: int | None = None, detail: bool = False, device: str | None = None,
                  max_tokens: int = 768, log=print) -> xr.Dataset:
    """Scores of model variant ``name`` on the probe set, cached in ``out/scores``."""
    from hooks.models import load_model
    from hooks.quant_measure import score_texts

    ps, langs, unit_ids = _select(probe_set, langs, units)
    path = Path(out) / "scores" / f"{_safe(name)}{'.detail' if detail else ''}.nc"
    if path.exists():
        ds = load_scores(path)
        if (ds.attrs.get("probe_set_sha256") == ps.sha256 and list(ds.lang.values) == langs
                and list(ds.unit.values) == unit_ids):
            log(f"  {name}: reusing {path}")
            return ds
    t0 = time.time()
    model = load_model(name, device=device)
    log(f"  {name}: scoring {len(ps.stimuli)} texts ({len(langs)} languages x "
        f"{len(unit_ids)} units){' with detail' if detail else ''}...")
    ds = score_texts(model, ps, langs, unit_ids, detail=detail, max_tokens=max_tokens)
    ds.attrs["seconds"] = round(time.time() - t0, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    ds.to_netcdf(tmp)
    tmp.replace(path)
    log(f"  {name}: done in {ds.attrs['seconds']} s -> {path}")
    return ds
