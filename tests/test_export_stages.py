"""The export's stage timer: order, nesting refused, and 'other' = total minus the stages (a fake clock)."""

from __future__ import annotations

import pytest

from fgvc_mobile.export import stages as st
from fgvc_mobile.studies import export_speed


class Clock:
    def __init__(self):
        self.wall, self.cpu = 100.0, 10.0

    def tick(self, wall: float, cpu: float) -> None:
        self.wall += wall
        self.cpu += cpu


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(st.time, "perf_counter", lambda: c.wall)
    monkeypatch.setattr(st.time, "process_time", lambda: c.cpu)
    return c


def test_stages_in_order_with_other_as_the_rest(clock):
    t = st.StageTimes()
    clock.tick(1.0, 0.5)  # before any stage: "other"
    with t("convert"):
        clock.tick(4.0, 3.0)
    with t("validate"):
        clock.tick(2.0, 2.0)
    clock.tick(0.5, 0.25)
    d = t.to_dict()
    assert [(s["name"], s["wall_s"], s["cpu_s"]) for s in d["stages"]] == [("convert", 4.0, 3.0), ("validate", 2.0, 2.0)]
    assert (d["total_wall_s"], d["total_cpu_s"]) == (7.5, 5.75)
    lines = t.markdown_lines()
    assert "| convert | 4.00 | 3.00 |" in lines and "| validate | 2.00 | 2.00 |" in lines
    assert lines[-1] == "| other (outside the stages above) | 1.50 | 0.75 |"
    assert "7.5 s wall, 5.8 s CPU" in lines[2]


def test_a_stage_that_fails_is_still_counted(clock):
    t = st.StageTimes()
    with pytest.raises(ValueError):
        with t("quantize"):
            clock.tick(3.0, 3.0)
            raise ValueError("converter failed")
    assert [s.name for s in t.stages] == ["quantize"] and t.stages[0].wall_s == 3.0
    with t("next"):  # the timer is usable again
        pass


def test_nested_stages_are_refused(clock):
    t = st.StageTimes()
    with pytest.raises(RuntimeError, match="inside stage 'outer'"):
        with t("outer"):
            with t("inner"):
                pass


def test_export_speed_study_table():
    run = {"checkpoint": "a/best.pt", "wall_s": 50.0, "cpu_s": 40.0, "published": ["m.onnx", "m.tflite"],
           "refused": ["model_w8a8.mlpackage"], "stages": [{"name": "onnx fp32: convert (dynamo)", "wall_s": 20.0,
                                                            "cpu_s": 18.0}]}
    machine = {"cpu_model": "AMD EPYC", "cores": 2, "libraries": {"torch": "2.x"}}
    lines = export_speed.markdown([run], "python -m fgvc_mobile.studies.export_speed --checkpoint a/best.pt", machine)
    assert "| `a/best.pt` | 50.0 | 40.0 | 2 | model_w8a8.mlpackage |" in lines
    assert "| onnx fp32: convert (dynamo) | 20.00 | 18.00 |" in lines
    assert lines[-1] == "| other (outside the stages above) | 30.00 | 22.00 |"
    assert any("AMD EPYC" in ln for ln in lines)


def test_freed_memory_is_kept_during_the_export_then_returned(monkeypatch):
    from fgvc_mobile.export import heap

    calls = []

    class Libc:
        def mallopt(self, param, value):
            calls.append(("mallopt", param, value))
            return 1

        def malloc_trim(self, pad):
            calls.append(("trim", pad))
            return 1

    monkeypatch.setattr(heap, "_glibc", lambda: Libc())
    with pytest.raises(ValueError):
        with heap.reuse_freed_memory():
            assert calls == [("mallopt", heap.M_MMAP_THRESHOLD, heap.HELD_THRESHOLD),
                             ("mallopt", heap.M_TRIM_THRESHOLD, heap.HELD_THRESHOLD)]
            raise ValueError("an export that fails still restores the allocator")
    assert calls[2:] == [("mallopt", heap.M_MMAP_THRESHOLD, heap.DEFAULT_THRESHOLD),
                         ("mallopt", heap.M_TRIM_THRESHOLD, heap.DEFAULT_THRESHOLD), ("trim", 0)]
    monkeypatch.setattr(heap, "_glibc", lambda: None)  # macOS, musl: nothing to do
    with heap.reuse_freed_memory():
        pass
