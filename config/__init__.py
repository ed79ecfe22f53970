"""Declared, not computed: the models of every config file, device profiles and the wire contract."""
