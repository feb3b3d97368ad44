"""A small test suite run by ``pexen run examples/testsuite --junit results.xml``.

Each test is a function tagged with ``func_meta``; pexen finds them in this
package and its subpackages (``pexen.factory.ModTreeFactory``) and names
each by its callpath (``testsuite/test_db/test_insert``). What the suite
shows:

- ``test_db``: a fixture (``create_db``) that ``provides`` the database the
  other tests ``require``; the writers ``claim`` it (one at a time), the
  readers ``use`` it (together);
- ``test_math``: plain tests, one failing (an ``AssertionError``), and a test
  that is skipped because the test it ``requires`` failed;
- ``test_crash``: a test that kills its worker process (``os._exit``): the
  run goes on, the test is reported as lost;
- ``test_slow``: a test that hangs, stopped by its ``timeout``;
- ``net``: a subpackage;
- ``scripts/``: shell-script tests, each an executable file, collected by
  ``test_scripts`` with ``pexen.factory.FilesystemFactory`` (a script failing
  with non-zero fails its test).

So the run ends with failures on purpose: ``pexen run`` exits with 1 (a
failed or skipped test), having written every test's outcome to
``results.xml``. ``--pool thread`` runs it in threads (the crashing test then
raises instead of ending the runner); ``-k test_db`` runs the database tests
and their fixture only.
"""
