import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never touch the network


@pytest.fixture(scope="session")
def gemma():
    """The real embedded Gemma-3-270m (materialized once into the polylens cache)."""
    from polylens.hooks.models import load_model

    return load_model("gemma-3-270m")


@pytest.fixture(scope="session")
def tiny_cohere2():
    from polylens.hooks.models import load_model

    return load_model("tiny-cohere2")


@pytest.fixture(scope="session")
def tiny_gemma3():
    from polylens.hooks.models import load_model

    return load_model("tiny-gemma3")
