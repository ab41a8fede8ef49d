"""Shared set-up for the silin Python tests.

The tests drive the real library through the generated bindings: real
SQLite files under pytest's tmp_path, a real `silin hub serve` process for
the hub tests, no mocks. `bindings/generate` must have been run first (it
writes target/bindings/python/silin/); SILIN_PYTHON_BINDINGS may name another
directory holding the `silin` package. The hub tests need the `silin` CLI
(`cargo build -p silin-cli`); SILIN_BIN overrides target/debug/silin.
"""

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
BINDINGS = Path(os.environ.get("SILIN_PYTHON_BINDINGS", ROOT / "target" / "bindings" / "python"))

if not (BINDINGS / "silin" / "__init__.py").is_file():
    pytest.exit(
        f"no generated Python bindings in {BINDINGS}/silin: run `bindings/generate` "
        "from the repository root first (or set SILIN_PYTHON_BINDINGS)",
        returncode=2,
    )
sys.path.insert(0, str(BINDINGS))

import silin  # noqa: E402  (the path must be set first)

from support import close_quietly  # noqa: E402


@pytest.fixture
def new_store(tmp_path):
    """Opens stores in tmp_path by name: new_store("lead") → lead.db.

    Every store opened is closed at the end of the test.
    """
    opened = []

    def open_store(name="store", key=None):
        store = silin.Store.open(str(tmp_path / f"{name}.db"), key)
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        close_quietly(store)


@pytest.fixture(scope="session")
def silin_bin():
    """The `silin` CLI binary: SILIN_BIN, or target/debug/silin."""
    path = Path(os.environ.get("SILIN_BIN", ROOT / "target" / "debug" / "silin"))
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(
            f"no silin binary at {path}: run `cargo build -p silin-cli` or set SILIN_BIN",
            pytrace=False,
        )
    return path
