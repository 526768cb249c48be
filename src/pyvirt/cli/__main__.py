"""``python -m pyvirt.cli``."""

from pyvirt.cli.main import main

main()
