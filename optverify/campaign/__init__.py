"""Fuzzing campaigns: the work plan, the worker's task, progress and example databases, and
the campaign's preparation, running on Ray and summary.

``optverify fuzz`` (:mod:`optverify.fuzz`) is the command; these modules are its parts.
"""
