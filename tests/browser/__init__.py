"""Headless-Chromium tests of the respondent pages (marked `browser`)."""
