"""Builds the optional C speedup for masking; ws4py works without it."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "ws4py._speedups",
            sources=["src/ws4py/_speedups.c"],
            optional=True,  # no compiler: the pure-Python twin is used
        )
    ]
)
