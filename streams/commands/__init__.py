"""One module per `solidarity` subcommand."""
