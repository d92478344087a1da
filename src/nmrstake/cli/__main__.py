"""`python -m nmrstake.cli ...`: the `nmrstake` command (tests and daemons start it this way)."""

from nmrstake.cli import main

main()
