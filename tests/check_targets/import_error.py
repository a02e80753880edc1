"""Imports a module that does not exist: ``optverify check`` must say so in one line."""

import optverify_no_such_module  # noqa: F401
