"""The Autobahn harness: report reading, the table, expected-failure rules, and one real short run."""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path
from typing import Any, ClassVar

import anyio
import pytest

from conformance.autobahn import cases as autobahn_cases
from conformance.autobahn.drivers import RunLimits, run_client_role
from conformance.autobahn.report import (
    BEHAVIORS,
    CaseResult,
    ReportError,
    RunResult,
    expected_failures_for,
    failure_reason,
    format_table,
    format_verdicts,
    group_counts,
    judge,
    load_index,
)
from conformance.autobahn.runner import run
from conformance.autobahn.wstest import Wstest, WstestUnavailable, find_wstest

AGENT = "ws-channel-fake"


def _entry(behavior: str, case_id: str, close: str = "OK") -> dict[str, Any]:
    return {
        "behavior": behavior,
        "behaviorClose": close,
        "duration": 3,
        "remoteCloseCode": 1000,
        "reportfile": f"ws_channel_fake_case_{case_id.replace('.', '_')}.json",
    }


def _write_report(directory: Path, entries: dict[str, dict[str, Any]], details: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "index.json").write_text(json.dumps({AGENT: entries, "other-agent": {}}))
    for case_id, report in details.items():
        (directory / entries[case_id]["reportfile"]).write_text(json.dumps(report))
    return directory


@pytest.fixture
def report_dir(tmp_path: Path) -> Path:
    entries = {
        "1.1.1": _entry("OK", "1.1.1"),
        "1.1.2": _entry("OK", "1.1.2"),
        "2.10": _entry("OK", "2.10"),
        "2.9": _entry("OK", "2.9"),
        "6.4.1": _entry("NON-STRICT", "6.4.1"),
        "7.1.5": _entry("FAILED", "7.1.5", close="WRONG CODE"),
        "7.13.1": _entry("INFORMATIONAL", "7.13.1"),
        "9.3.1": _entry("FAILED", "9.3.1"),
        "12.1.1": _entry("UNIMPLEMENTED", "12.1.1"),
    }
    details = {
        "7.1.5": {
            "result": "Actual events differ from any expected.",
            "resultClose": "The close code should have been 1000 or empty",
            "behaviorClose": "WRONG CODE",
            "remoteCloseCode": 1002,
            "remoteCloseReason": "unexpected close",
        }
    }
    return _write_report(tmp_path / "reports", entries, details)


class TestLoadIndex:
    def test_cases_are_read_in_numeric_order(self, report_dir: Path) -> None:
        results = load_index(report_dir, AGENT)
        order = ["1.1.1", "1.1.2", "2.9", "2.10", "6.4.1", "7.1.5", "7.13.1", "9.3.1", "12.1.1"]
        assert list(results) == order
        assert results["6.4.1"] == CaseResult("6.4.1", "NON-STRICT", "OK", 1000, 3, "")

    def test_a_failed_case_carries_the_reason_from_its_case_report(self, report_dir: Path) -> None:
        failed = load_index(report_dir, AGENT)["7.1.5"]
        assert failed.failed
        assert failed.reason == (
            "Actual events differ from any expected.; "
            "close: The close code should have been 1000 or empty (WRONG CODE); "
            "testee closed with 1002 'unexpected close'"
        )

    def test_a_failed_case_without_its_case_report_says_so(self, report_dir: Path) -> None:
        assert load_index(report_dir, AGENT)["9.3.1"].reason == "case report missing"

    def test_an_unknown_behavior_counts_as_failed(self, tmp_path: Path) -> None:
        directory = _write_report(tmp_path, {"3.1": _entry("BROKEN", "3.1")}, {})
        result = load_index(directory, AGENT)["3.1"]
        assert result.failed
        assert result.reason.startswith("unknown behavior 'BROKEN'")
        assert group_counts([result]) == {3: {"FAILED": 1}}

    def test_missing_index_is_a_report_error(self, tmp_path: Path) -> None:
        with pytest.raises(ReportError, match="no report"):
            load_index(tmp_path, AGENT)

    def test_malformed_index_is_a_report_error(self, tmp_path: Path) -> None:
        (tmp_path / "index.json").write_text("{not json")
        with pytest.raises(ReportError, match="not JSON"):
            load_index(tmp_path, AGENT)

    def test_an_agent_missing_from_the_index_is_a_report_error(self, report_dir: Path) -> None:
        with pytest.raises(ReportError, match="no results for agent 'nobody'"):
            load_index(report_dir, "nobody")

    def test_a_case_without_behavior_is_a_report_error(self, tmp_path: Path) -> None:
        (tmp_path / "index.json").write_text(json.dumps({AGENT: {"1.1.1": {"duration": 1}}}))
        with pytest.raises(ReportError, match=r"1\.1\.1 .* has no behavior"):
            load_index(tmp_path, AGENT)

    def test_failure_reason_without_details(self) -> None:
        assert failure_reason({}) == "no result recorded"


class TestTable:
    def test_counts_per_group(self, report_dir: Path) -> None:
        counts = group_counts(load_index(report_dir, AGENT).values())
        assert counts == {
            1: {"OK": 2},
            2: {"OK": 2},
            6: {"NON-STRICT": 1},
            7: {"FAILED": 1, "INFORMATIONAL": 1},
            9: {"FAILED": 1},
            12: {"UNIMPLEMENTED": 1},
        }

    def test_table_has_a_row_per_group_and_a_total_per_run(self, report_dir: Path) -> None:
        run_result = RunResult("fake", "server", load_index(report_dir, AGENT), wall_time=12.4)
        lines = format_table([run_result]).splitlines()
        assert lines[0].split() == ["backend", "role", "group", *BEHAVIORS]
        rows = [line.split() for line in lines[2:]]
        assert ["fake", "server", "7", "0", "0", "1", "0", "1"] in rows
        assert rows[-1] == ["fake", "server", "all", "(12", "s)", "4", "1", "1", "1", "2"]
        assert len(rows) == 7


class TestExpectedFailures:
    MAPPING: ClassVar[dict[str, str]] = {
        "7.1.5": "closes with 1002 on a close frame mid-message",
        "client:9.3.1": "fragment cap of the library",
        "server:6.4.1": "server-only reason",
    }

    def test_role_selection(self) -> None:
        assert expected_failures_for(self.MAPPING, "client") == {
            "7.1.5": self.MAPPING["7.1.5"],
            "9.3.1": self.MAPPING["client:9.3.1"],
        }
        assert expected_failures_for(self.MAPPING, "server") == {
            "7.1.5": self.MAPPING["7.1.5"],
            "6.4.1": self.MAPPING["server:6.4.1"],
        }

    @pytest.mark.parametrize(
        ("mapping", "message"),
        [
            ({"browser:7.1.5": "x"}, "role must be client or server"),
            ({"7.1.5": " "}, "needs a reason"),
            ({"seven": "x"}, "not an Autobahn case id"),
        ],
    )
    def test_bad_maps_are_rejected(self, mapping: dict[str, str], message: str) -> None:
        with pytest.raises(ValueError, match=message):
            expected_failures_for(mapping, "client")

    def test_listed_failures_pass_and_unlisted_ones_fail(self, report_dir: Path) -> None:
        run_result = RunResult("fake", "client", load_index(report_dir, AGENT))
        verdict = judge(run_result, {"7.1.5": "known", "9.3.1": "known too"})
        assert verdict.ok
        assert [result.case for result, _ in verdict.expected_failures] == ["7.1.5", "9.3.1"]

        verdict = judge(run_result, {"7.1.5": "known"})
        assert not verdict.ok
        assert [result.case for result in verdict.unexpected_failures] == ["9.3.1"]

    def test_an_expected_failure_that_passes_fails_the_run(self, report_dir: Path) -> None:
        run_result = RunResult("fake", "client", load_index(report_dir, AGENT))
        verdict = judge(run_result, {"7.1.5": "a", "9.3.1": "b", "6.4.1": "stale entry"})
        assert not verdict.ok
        assert verdict.unexpected_passes == (("6.4.1", "passed (NON-STRICT) but is listed: stale entry"),)
        assert "UNEXPECTED PASS fake client 6.4.1" in format_verdicts([(run_result, verdict)])

    def test_an_expected_failure_that_did_not_run_is_ignored(self, report_dir: Path) -> None:
        run_result = RunResult("fake", "client", load_index(report_dir, AGENT))
        assert judge(run_result, {"7.1.5": "a", "9.3.1": "b", "13.7.18": "not selected"}).ok

    def test_a_harness_error_fails_the_run(self) -> None:
        run_result = RunResult("fake", "server", {}, error="wstest exited with 1")
        verdict = judge(run_result, {})
        assert not verdict.ok
        assert format_verdicts([(run_result, verdict)]) == "ERROR fake server: wstest exited with 1"

    def test_every_failed_case_is_listed_with_its_reason(self, report_dir: Path) -> None:
        run_result = RunResult("fake", "client", load_index(report_dir, AGENT))
        text = format_verdicts([(run_result, judge(run_result, {"9.3.1": "fragment cap"}))])
        assert text.splitlines() == [
            "FAILED fake client 7.1.5: " + load_index(report_dir, AGENT)["7.1.5"].reason,
            "expected failure fake client 9.3.1: fragment cap [case report missing]",
        ]


class TestCaseSelection:
    def test_fast_subset_skips_9_and_keeps_some_compression(self) -> None:
        fast = autobahn_cases.select_cases()
        assert not any(case.startswith("9.") for case in fast)
        assert "12.1.1" in fast and "13.7.1" in fast
        assert not any(case.startswith(("12.", "13.")) and "*" in case for case in fast)

    def test_full_set_is_everything(self) -> None:
        assert autobahn_cases.select_cases(full=True) == ["*"]

    def test_explicit_cases_win(self) -> None:
        assert autobahn_cases.select_cases(full=True, cases=["1.1.1", " 2.* "]) == ["1.1.1", "2.*"]
        with pytest.raises(ValueError, match="may not be empty"):
            autobahn_cases.select_cases(cases=[" "])

    def test_case_group(self) -> None:
        assert autobahn_cases.case_group("12.1.3") == 12
        with pytest.raises(ValueError, match="not an Autobahn case id"):
            autobahn_cases.case_group("x.1")

    def test_wstest_paths_are_translated_for_the_tool(self, tmp_path: Path) -> None:
        shared = tmp_path / "root" / "tmp" / "w"
        wstest = Wstest("chroot", ("wstest",), shared, "/tmp/w")
        assert wstest.tool_path(shared / "run-1" / "spec.json") == "/tmp/w/run-1/spec.json"
        assert wstest.command("-m", "fuzzingclient") == ["wstest", "-m", "fuzzingclient"]


@pytest.fixture(scope="module")
def wstest() -> Wstest:
    try:
        return find_wstest()
    except WstestUnavailable as exc:
        pytest.skip(f"no wstest can be had here: {exc}")


@pytest.mark.timeout(900)
def test_a_few_real_cases_against_the_websockets_backend(wstest: Wstest, tmp_path: Path) -> None:
    pytest.importorskip("websockets")
    out = io.StringIO()
    status = run(["websockets"], cases=["1.1.1", "2.1", "7.1.1"], report_dir=tmp_path, out=out)
    text = out.getvalue()
    assert status == 0, text
    rows = [line.split() for line in text.splitlines()]
    for role in ("client", "server"):
        totals = next(row for row in rows if row[:3] == ["websockets", role, "all"])
        assert totals[-5:] == ["3", "0", "0", "0", "0"], text
        assert (tmp_path / f"websockets-{role}" / "index.json").is_file()


class TestReasonsAndResolution:
    def test_a_close_result_equal_to_the_result_is_not_repeated(self) -> None:
        report = {"result": "bad code", "resultClose": "bad code", "behaviorClose": "WRONG CODE"}
        assert failure_reason(report) == "bad code; close: WRONG CODE"

    def test_patterns_resolve_like_wstest(self) -> None:
        assert len(autobahn_cases.ALL_CASE_IDS) == 517
        assert autobahn_cases.resolve_cases(["*"]) == list(autobahn_cases.ALL_CASE_IDS)
        # A pattern with * is a prefix match: 12.*.1 also matches 12.1.10 to 12.1.18.
        assert "12.1.10" in autobahn_cases.resolve_cases(["12.*.1"])
        assert autobahn_cases.resolve_cases(["1.*"])[-1] == "1.2.8"
        assert autobahn_cases.resolve_cases(["2.10", "2.9"]) == ["2.9", "2.10"]
        fast = autobahn_cases.resolve_cases(autobahn_cases.FAST_CASES)
        assert len(fast) == 264 and not any(case.startswith("9.") for case in fast)

    def test_an_unknown_exact_case_is_rejected(self) -> None:
        with pytest.raises(ValueError, match=r"unknown Autobahn case ids: 8\.1"):
            autobahn_cases.select_cases(cases=["8.1"])

    def test_an_unknown_backend_stops_before_wstest_is_needed(self) -> None:
        out = io.StringIO()
        assert run(["no-such-backend"], out=out) == 2
        assert "no-such-backend" in out.getvalue()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _fake_wstest(tmp_path: Path, code: str) -> Wstest:
    """A stand-in for wstest: a Python script (the wstest arguments end up in its sys.argv)."""
    return Wstest("path", (sys.executable, "-c", code), tmp_path, str(tmp_path))


class TestProcessHandling:
    @pytest.mark.anyio
    async def test_a_wstest_that_dies_at_start_is_reported_with_its_output(self, tmp_path: Path) -> None:
        fake = _fake_wstest(tmp_path, "import sys; print('no such mode'); sys.exit(3)")
        with anyio.fail_after(30):
            result = await run_client_role(fake, "websockets", ["1.1.1"], tmp_path, RunLimits(10, 5))
        assert result.error is not None
        assert result.error.startswith("RuntimeError: wstest exited with 3 before listening")
        assert "no such mode" in result.error

    @pytest.mark.anyio
    async def test_a_run_over_its_time_limit_ends_the_wstest_process(self, tmp_path: Path) -> None:
        pid_file = tmp_path / "pid"
        code = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
        fake = _fake_wstest(tmp_path, code)
        with anyio.fail_after(30):
            result = await run_client_role(fake, "websockets", ["1.1.1"], tmp_path, RunLimits(1.5, 1))
        assert result.error is not None and result.error.startswith("the run took more than 2 s")
        with pytest.raises(ProcessLookupError):
            os.kill(int(pid_file.read_text()), 0)
