"""Transparency: the privacy notice (Art. 13) and the record of processing (Art. 30)."""
