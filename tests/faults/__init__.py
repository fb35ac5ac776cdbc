"""Crash and storage fault tests of the file backend."""
