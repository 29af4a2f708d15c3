"""Pure-Python implementation of the AP3000 DNY station protocol (no Home Assistant import)."""
