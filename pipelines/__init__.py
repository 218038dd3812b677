"""Pipelines: one typed config and one ``run(config)`` per job; the only layer that sequences steps.

Convention for every job module ``pipelines/<job>.py``:

- one or more ``@dataclass(frozen=True)`` configs whose fields carry
  ``metadata={"help": "..."}``; field types are drawn from ``str``, ``int``, ``float``,
  ``bool``, ``Path``, ``Literal[...]`` (choices), ``tuple[str, ...]`` / ``tuple[int, ...]`` /
  ``tuple[float, ...]`` and ``X | None``. ``__post_init__`` validates ranges and raises
  :class:`polylens.errors.ConfigError` naming the option;
- ``run(config) -> result``: opens models, sequences steps, writes results;
- ``summary(result) -> str``: the text the CLI prints.

``cli.py`` binds these configs to argparse (and to ``--config FILE.toml``) and does nothing else.
"""
