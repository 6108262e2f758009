"""``python -m evenergy_async``: the ``evenergy-async`` command line."""

from ._cli import main

if __name__ == "__main__":
    raise SystemExit(main())
