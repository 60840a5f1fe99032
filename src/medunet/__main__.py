"""``python -m medunet`` runs the command line."""

from medunet.cli import main

raise SystemExit(main())
