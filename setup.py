"""Shim for Dataflow's --setup_file: the package is defined in pyproject.toml."""

from setuptools import setup

setup()
