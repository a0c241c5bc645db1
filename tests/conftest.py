"""Shared by every test run: a skipped test fails the run when SUPPORTLINE_STRICT=1 (CI),
so a missing model, Redis or browser can never pass silently."""
import os


def pytest_sessionfinish(session, exitstatus):
    if os.environ.get("SUPPORTLINE_STRICT") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped and session.exitstatus == 0:
        reporter.write_line(f"SUPPORTLINE_STRICT: {skipped} test(s) skipped; failing the run", red=True)
        session.exitstatus = 1
