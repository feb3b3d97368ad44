"""A test that hangs: stopped by its timeout, the others go on."""

import time

from pexen.sched.meta import func_meta


@func_meta(timeout=1.0)
def test_mirror_download():
    time.sleep(60)  # a download that stalled


@func_meta(timeout=5.0)
def test_checksum():
    import hashlib

    assert hashlib.sha256(b"pexen").hexdigest()[:8] == "6703d7da"
