"""The faust application: settings, topics, tables, codecs, web views and the CLI."""
