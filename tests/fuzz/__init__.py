"""Fuzz targets: the front end (frontend.py); run by tests/test_fuzz_*.py and bench/fuzz.py."""
