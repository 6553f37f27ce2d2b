"""Build hooks only; all metadata lives in pyproject.toml.

The C nonce loop (`hush.shh._powloop`) is optional: where it can't be compiled, hush uses the
equivalent Python loop, which is about half as fast.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("hush.shh._powloop", ["src/hush/shh/_powloop.c"], optional=True),
    ]
)
