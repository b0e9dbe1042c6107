"""digest/files.py: the pack that keeps many small cache entries in one file."""

from __future__ import annotations

import os

from digest.files import Pack


def test_a_pack_cuts_a_torn_entry_and_drops_outdated_entries_once_they_outweigh_the_rest(tmp_path):
    """As the conversions use it: a build stopped while appending leaves a torn last entry, which the next one
    cuts off; an entry whose tag (a page) has a newer one is dropped once such entries outweigh the rest; a build
    that looked up every page drops what it did not use."""
    path = tmp_path / "en.pack"
    pack = Pack(path)
    pack.put("a" * 64, b"A1" * 100, "papers/a.md")
    pack.put("b" * 64, b"B1", "papers/b.md")
    pack.save(pack.used | pack.newest())
    whole = path.read_bytes()
    path.write_bytes(whole + Pack.ENTRY.pack(b"c" * 64, 11, 50) + b"papers/c.md" + b"C" * 10)  # torn
    assert sorted(Pack(path).index) == ["a" * 64, "b" * 64]
    assert Pack(path).get("b" * 64) == b"B1"
    pack = Pack(path)
    pack.put("d" * 64, b"B2", "papers/b.md")  # b's page, edited
    pack.save(pack.used | pack.newest())
    assert path.read_bytes().startswith(whole) and b"C" * 10 not in path.read_bytes()
    assert sorted(Pack(path).index) == ["a" * 64, "b" * 64, "d" * 64]  # b's outdated entry is small
    pack = Pack(path)
    pack.put("e" * 64, b"A2", "papers/a.md")  # a's page, edited: its outdated entry outweighs the rest
    pack.save(pack.used | pack.newest())
    pack = Pack(path)
    assert sorted(pack.index) == ["d" * 64, "e" * 64]
    assert pack.get("d" * 64) == b"B2" and pack.get("e" * 64) == b"A2"
    pack.save(pack.used, whenever=True)  # a build that looked up every page and used these two: nothing to drop
    assert sorted(Pack(path).index) == ["d" * 64, "e" * 64]


def test_a_pack_is_appended_to_until_the_dropped_entries_outweigh_the_kept(tmp_path):
    """As the search documents use it: kept entries are carried over unread (`keep`), new ones appended; when the
    entries no longer kept outweigh those that are, the file is written anew (another inode) with the kept alone."""
    path = tmp_path / "texts"
    pack = Pack(path)
    pack.put("a" * 64, b"A" * 400)
    pack.put("b" * 64, b"B" * 400)
    pack.save({"a" * 64, "b" * 64})
    inode = os.stat(path).st_ino
    pack = Pack(path)
    assert pack.get("a" * 64) == b"A" * 400
    pack.keep("a" * 64)  # carried over; b dropped (its 400 bytes stay)
    pack.put("c" * 64, b"C" * 300)
    pack.save({"a" * 64, "c" * 64})
    assert os.stat(path).st_ino == inode and path.read_bytes().endswith(b"C" * 300)
    pack = Pack(path)
    assert (pack.get("a" * 64), pack.get("b" * 64), pack.get("c" * 64)) == (b"A" * 400, b"B" * 400, b"C" * 300)
    pack.put("d" * 64, b"D" * 200)  # everything else dropped: 1,100 of 1,300 bytes no longer kept
    pack.save({"d" * 64})
    assert os.stat(path).st_ino != inode and sorted(Pack(path).index) == ["d" * 64]
    assert Pack(path).get("d" * 64) == b"D" * 200
