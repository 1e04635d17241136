"""Policy data files (YAML) for the rule modules; a package so setuptools ships them."""
