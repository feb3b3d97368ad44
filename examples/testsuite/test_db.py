"""A shared fixture (a SQLite database) and the tests using it, under locks."""

import atexit
import os
import shutil
import sqlite3
import tempfile

from pexen.sched.meta import func_meta

#: where the database lives: made as the suite is collected, removed as the
#: runner exits (not as a worker process forked from it does)
_WHERE = tempfile.mkdtemp(prefix="pexen-testsuite-")
_RUNNER = os.getpid()
atexit.register(lambda: os.getpid() == _RUNNER and shutil.rmtree(_WHERE, ignore_errors=True))


@func_meta(provides={"db"})
def create_db(shared):
    """The fixture: a fresh database; its path reaches every test requiring "db"."""
    path = os.path.join(_WHERE, "inventory.db")
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE item (name TEXT PRIMARY KEY, count INTEGER)")
        conn.executemany("INSERT INTO item VALUES (?, ?)", [("bolt", 40), ("nut", 60)])
    shared["db"] = path


@func_meta(requires={"db"}, claims={"db"})
def test_insert(shared):
    """A writer: claims the database, so no other test touches it meanwhile."""
    with sqlite3.connect(shared["db"]) as conn:
        conn.execute("INSERT INTO item VALUES ('washer', 10)")
        conn.execute("DELETE FROM item WHERE name = 'washer'")


@func_meta(requires={"db"}, claims={"db"})
def test_restock(shared):
    with sqlite3.connect(shared["db"]) as conn:
        conn.execute("UPDATE item SET count = count + 10 WHERE name = 'bolt'")
        conn.execute("UPDATE item SET count = count - 10 WHERE name = 'bolt'")


@func_meta(requires={"db"}, uses={"db"})
def test_total(shared):
    """A reader: uses the database, along with the other readers."""
    with sqlite3.connect(shared["db"]) as conn:
        (total,) = conn.execute("SELECT SUM(count) FROM item").fetchone()
    assert total == 100, total


@func_meta(requires={"db"}, uses={"db"})
def test_names(shared):
    with sqlite3.connect(shared["db"]) as conn:
        names = [name for (name,) in conn.execute("SELECT name FROM item ORDER BY name")]
    assert names == ["bolt", "nut"], names
