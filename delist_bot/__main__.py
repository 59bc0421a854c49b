"""`python -m delist_bot` runs the same CLI as the `delist-bot` script."""

from delist_bot.cli import main

main()
