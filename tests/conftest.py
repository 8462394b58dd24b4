"""Fixtures shared across test folders: the real servers of the scale-out tests (see tests/_servers.py)."""

from __future__ import annotations

import re
import secrets

import pytest

from tests._servers import find_pg_bin, start_postgres


@pytest.fixture(scope="session")
def postgres_server():
    """One PostgreSQL server for the whole test session (started on first use, stopped at the end)."""
    bin_dir = find_pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin, $SMP_PG_BIN "
                    "or PATH; install the server package (Debian: apt-get install postgresql-15)")
    server = start_postgres(bin_dir)
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server, request) -> str:
    """A fresh database on the session's server for this test; SQLAlchemy URL with the psycopg driver."""
    name = re.sub(r"[^a-z0-9_]", "_", request.node.name.lower())[:40] + "_" + secrets.token_hex(3)
    return postgres_server.create_database(name)
