"""Every rendering of a result: text, JSON (schemas in ``schemas.py``) and JUnit."""
