"""`python -m hone.cli`: the `hone` command."""

from hone.cli.main import main

main()
