"""Build hooks only; all metadata lives in pyproject.toml.

The C parts are optional: where they can't be compiled, hush uses the equivalent Python code.
`hush.shh._powloop` is the nonce loop (the Python loop is about half as fast); `hush.shh._envelope`
decodes, hashes and scores envelopes on receipt (see BENCHMARKS.md for the Python fallback's rate).
Both share the Keccak-f[1600] in `_keccak.h`. `hush.crypto._gcm` opens symmetric envelopes on
OpenSSL's libcrypto (needs its headers; else the `cryptography` package does it, slower).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "hush.shh._powloop",
            ["src/hush/shh/_powloop.c"],
            depends=["src/hush/shh/_keccak.h"],
            optional=True,
        ),
        Extension(
            "hush.shh._envelope",
            ["src/hush/shh/_envelope.c"],
            depends=["src/hush/shh/_keccak.h"],
            optional=True,
        ),
        Extension("hush.crypto._gcm", ["src/hush/crypto/_gcm.c"], libraries=["crypto"], optional=True),
    ]
)
