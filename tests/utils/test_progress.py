"""Progress indicators: bars on a terminal, plain lines in logs, stage timings."""

import io

import pytest

from nngraph.utils import PlainProgress, Stages, progress_bar


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_log_gets_plain_lines_at_each_quarter():
    log = io.StringIO()
    bar = progress_bar(20, "shuffles", stream=log)
    assert isinstance(bar, PlainProgress)
    for i in range(20):
        bar.set_postfix(loss=f"{i}")
        bar.update(1)
    bar.close()
    lines = log.getvalue().splitlines()
    assert [line.split(" (")[0] for line in lines] == [
        "shuffles: 25%",
        "shuffles: 50%",
        "shuffles: 75%",
        "shuffles: 100%",
    ]
    assert lines[-1].endswith(", loss 19")
    assert "\r" not in log.getvalue()  # no bar control characters in a log


def test_a_big_step_writes_one_line_with_the_share_done():
    log = io.StringIO()
    bar = progress_bar(4, "x", stream=log)
    bar.update(4)
    bar.update(1)  # past the total: nothing more
    (line,) = log.getvalue().splitlines()
    assert line.startswith("x: 100% (4/4, ")
    log = io.StringIO()
    bar = progress_bar(3, "x", stream=log)
    for _ in range(3):
        bar.update(1)
    assert [line.split(",")[0] for line in log.getvalue().splitlines()] == [
        "x: 33% (1/3",
        "x: 67% (2/3",
        "x: 100% (3/3",
    ]


def test_disabled_writes_nothing_and_unknown_total_is_quiet():
    log = io.StringIO()
    bar = progress_bar(10, "x", enabled=False, stream=log)
    bar.update(10)
    bar = progress_bar(None, "x", stream=log)
    bar.update(3)
    bar.set_postfix(loss="1")
    bar.close()
    assert log.getvalue() == ""


def test_terminal_gets_a_tqdm_bar():
    tty = _Tty()
    bar = progress_bar(3, "train", stream=tty)
    from tqdm import tqdm

    assert isinstance(bar, tqdm)
    bar.update(3)
    bar.close()


def test_stages_time_and_announce():
    log = io.StringIO()
    stages = Stages(stream=log)
    with stages("a"):
        pass
    with stages("a"):
        pass
    with stages("b"):
        pass
    assert list(stages.timings) == ["a", "b"]
    assert all(v >= 0 for v in stages.timings.values())
    lines = log.getvalue().splitlines()
    assert lines[0] == "[nngraph] a ..." and lines[1].startswith("[nngraph] a done in ")
    quiet = io.StringIO()
    with Stages(enabled=False, stream=quiet)("c"):
        pass
    assert quiet.getvalue() == ""


def test_a_stage_that_fails_or_is_interrupted_does_not_say_done():
    log = io.StringIO()
    stages = Stages(stream=log)
    for error in (ValueError("bad"), KeyboardInterrupt()):
        with pytest.raises(type(error)), stages("x"):
            raise error
    lines = log.getvalue().splitlines()
    assert lines[1].startswith("[nngraph] x failed after ")
    assert lines[3].startswith("[nngraph] x interrupted after ")


def test_stage_time_is_kept_when_it_fails():
    stages = Stages(enabled=False)
    try:
        with stages("boom"):
            raise RuntimeError
    except RuntimeError:
        pass
    assert "boom" in stages.timings


def _disguised_interrupt() -> SystemError:
    """Build what Ctrl-C during a numba kernel raises: a SystemError over the interrupt."""
    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise SystemError("CPUDispatcher(f) returned a result with an exception set")  # noqa: B904 (as numba does: the interrupt is only the context)
    except SystemError as exc:
        return exc


def test_ctrl_c_during_a_numba_kernel_is_an_interrupt():
    from nngraph.utils import _progress

    exc = _disguised_interrupt()
    assert _progress.interrupted(exc) and not _progress.interrupted(SystemError("other"))
    log = io.StringIO()
    with pytest.raises(KeyboardInterrupt), Stages(stream=log)("x"):
        raise exc
    assert "[nngraph] x interrupted after " in log.getvalue()
    with pytest.raises(SystemError), Stages(stream=io.StringIO())("y"):
        raise SystemError("a real one")
