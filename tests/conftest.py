"""Shared by every test folder: this folder is on ``sys.path``, so helpers such
as :mod:`parity` import by name."""
