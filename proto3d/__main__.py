"""`python -m proto3d`: the same command line as the `proto3d` script."""

from proto3d.cli import main

main()
