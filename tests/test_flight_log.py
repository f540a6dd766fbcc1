"""The flight log (forgeq/emulator/store/flight.py): which leased events' attempts started."""

from __future__ import annotations

from pathlib import Path

from forgeq.emulator.store.flight import FlightLog


def test_entries_survive_in_the_file_and_a_commit_forgets_what_it_acknowledged(tmp_path: Path) -> None:
    path = str(tmp_path / "state.db-flight")
    log = FlightLog(path)
    log.reset()
    for event in range(1, 1201):  # past the first mapping's 512 entries: it grows, entries kept
        log.start(event)
    assert FlightLog(path).read() == set(range(1, 1201)), "another process reads what this one wrote, unflushed"
    log.release(set(range(1, 1101)) | {5000})
    assert FlightLog(path).read() == set(range(1101, 1201))
    log.release(set(range(1101, 1201)))
    assert FlightLog(path).read() == set()
    log.start(7)
    log.close()
    assert FlightLog(path).read() == {7}


def test_a_new_run_starts_with_an_empty_log(tmp_path: Path) -> None:
    path = str(tmp_path / "state.db-flight")
    first = FlightLog(path)
    first.reset()
    first.start(3)
    first.close()
    second = FlightLog(path)
    second.reset()
    assert second.read() == set()
    second.start(4)  # written over the first run's entries
    assert second.read() == {4}
    second.close()


def test_an_unknown_log_is_none_so_every_lease_counts_as_started(tmp_path: Path) -> None:
    assert FlightLog(str(tmp_path / "missing")).read() is None
    torn = tmp_path / "torn"
    torn.write_bytes(b"\x01\x00\x00")
    assert FlightLog(str(torn)).read() is None
    assert FlightLog(None).read() is None
    FlightLog(None).start(1)  # an in-memory state keeps no log
