"""`python -m sidecar`."""

from sidecar.server import main

main()
