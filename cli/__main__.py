"""`python -m ccb.cli`: the same as the `ccb` command."""

from ccb.cli.app import main

main()
