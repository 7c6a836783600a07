"""`python -m stepladder`."""

from stepladder.cli import main

main()
