"""Small optimiser files that ``tests/test_check_cli.py`` points ``optverify check`` at."""
