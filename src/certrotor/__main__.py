"""``python -m certrotor``: the same command line as the ``certrotor`` console script."""

from __future__ import annotations

from certrotor.cli.main import main

if __name__ == "__main__":
    main()
