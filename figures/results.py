"""Read-only view of a results directory (``analysis.alignment.run_analysis`` output and later
quantization / diffing outputs). Loads files lazily; computes nothing.

A *need* names what a figure requires: a file (``"commitment_matrix.csv"``) or a variable inside
the netCDF (``"alignment.nc:cka"``). :meth:`Results.has` answers whether a need is satisfied.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from jaxtyping import Int

from polylens.errors import StorageError
from polylens.hooks.method import decode_attr

__all__ = ["Results", "decode_attr"]


class Results:
    """A results directory. ``Results(dir).ds`` is ``alignment.nc`` loaded into memory."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_dir():
            raise StorageError(f"results directory {self.path} does not exist")
        if not any(self.path.iterdir()):
            raise StorageError(f"results directory {self.path} is empty (run the analysis first)")

    def __repr__(self) -> str:
        return f"Results({str(self.path)!r})"

    # ------------------------------------------------------------------ needs
    def has(self, need: str) -> bool:
        """Whether a need (``file`` or ``file:variable``) is satisfied."""
        fname, _, var = need.partition(":")
        if not (self.path / fname).is_file():
            return False
        if not var:
            return True
        if fname.endswith(".nc"):
            return var in self.dataset(fname).variables
        if fname.endswith(".csv"):
            return var in self.table(fname).columns
        return False

    # ------------------------------------------------------------------ files
    def dataset(self, name: str = "alignment.nc") -> xr.Dataset:
        """A netCDF file of the directory, loaded into memory once."""
        cache = self.__dict__.setdefault("_datasets", {})
        if name not in cache:
            path = self.path / name
            try:
                with xr.open_dataset(path) as ds:
                    cache[name] = ds.load()
            except (OSError, ValueError) as exc:
                raise StorageError(f"cannot read {path}: {exc}") from exc
        return cache[name]

    def table(self, name: str) -> pd.DataFrame:
        """A CSV table of the directory (empty frame for an empty file), read once."""
        cache = self.__dict__.setdefault("_tables", {})
        if name not in cache:
            path = self.path / name
            try:
                cache[name] = pd.read_csv(path, keep_default_na=True)
            except pd.errors.EmptyDataError:  # e.g. stats.csv of a single-variant run
                cache[name] = pd.DataFrame()
            except (OSError, ValueError) as exc:
                raise StorageError(f"cannot read {path}: {exc}") from exc
        return cache[name]

    def json(self, name: str) -> Any:
        """A JSON file of the directory."""
        path = self.path / name
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise StorageError(f"cannot read {path}: {exc}") from exc

    @property
    def ds(self) -> xr.Dataset:
        """``alignment.nc``."""
        return self.dataset("alignment.nc")

    # ------------------------------------------------------------------ labels
    @cached_property
    def attrs(self) -> dict[str, Any]:
        """``alignment.nc`` attrs, JSON values decoded."""
        return {k: decode_attr(v) for k, v in self.ds.attrs.items()}

    @property
    def ref(self) -> str | None:
        """The reference language of the analysis."""
        return self.attrs.get("analysis_ref")

    @property
    def variants(self) -> list[str]:
        """Variant labels in dataset order."""
        return [str(v) for v in self.ds["variant"].values]

    @property
    def baseline(self) -> str:
        """The baseline variant (recorded one, else the first)."""
        b = self.attrs.get("analysis_baseline")
        return b if b in self.variants else self.variants[0]

    @property
    def langs(self) -> list[str]:
        """Languages compared with the reference (the reference itself is excluded)."""
        return [str(g) for g in self.ds["lang"].values if str(g) != self.ref]

    @property
    def layers(self) -> Int[np.ndarray, " layer"]:
        """The layer axis."""
        return self.ds["layer"].values

    @property
    def unit_dim(self) -> str:
        """``concept`` or ``item``."""
        return self.attrs.get("analysis_unit_dim") or "concept"

    def coord(self, name: str, lang: str) -> str | None:
        """A per-language coordinate's value for ``lang`` (None if the data has none)."""
        if name in self.ds.coords and "lang" in self.ds[name].dims:
            return str(self.ds[name].sel(lang=lang).values)
        return None

    def script(self, lang: str) -> str | None:
        """ISO 15924 script from the data's ``script`` coordinate, else from ``probes.LANGUAGES``."""
        s = self.coord("script", lang)
        if s:
            return s
        try:
            from polylens.probes.languages import LANGUAGES  # noqa: PLC0415
        except Exception:  # noqa: BLE001
            return None
        return LANGUAGES[lang].script if lang in LANGUAGES else None
