"""Fuzzing campaigns: the work plan, the worker's task, progress and example databases.

``optverify fuzz`` (:mod:`optverify.fuzz`) is the command; these modules are its parts.
"""
