"""Network tests: a subpackage (callpaths ``testsuite/net/...``)."""
