"""The bug zoo: planted bugs and healthy setups for `nr.check` (see cases.py)."""
