"""Helpers for tools that drive the app from outside: tests, benchmarks and scripts.

browser: Chromium through Playwright, a streamlit server on a free port, component frames.
e2e: the app's pages in a browser, waits for idle, timed servers and run logs.
"""
