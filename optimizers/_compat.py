"""Imported first by this package: an older torch gets the typing names our modules import
from it (:func:`optverify.torch_compat.backfill`)."""

from optverify import torch_compat

torch_compat.backfill()
