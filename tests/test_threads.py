"""CPU detection (affinity + cgroup quota) and the machine-wide job registry sharing cores."""

import os
import subprocess
import sys

import torch

from polylens.hooks.threads import ThreadShare, available_cpus, cgroup_cpu_limit


def test_cgroup_v2_and_v1_quota(tmp_path):
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "cpu.max").write_text("150000 100000\n")
    assert cgroup_cpu_limit(v2) == 1.5
    assert available_cpus(v2) == min(len(os.sched_getaffinity(0)), 2)
    (v2 / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_limit(v2) is None
    v1 = tmp_path / "v1" / "cpu"
    v1.mkdir(parents=True)
    (v1 / "cpu.cfs_quota_us").write_text("100000\n")
    (v1 / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_cpu_limit(tmp_path / "v1") == 1.0
    assert available_cpus(tmp_path / "v1") == 1
    (v1 / "cpu.cfs_quota_us").write_text("-1\n")
    assert cgroup_cpu_limit(tmp_path / "v1") is None
    assert cgroup_cpu_limit(tmp_path / "none") is None


def test_available_cpus_respects_affinity():
    assert 1 <= available_cpus() <= len(os.sched_getaffinity(0))


def test_two_jobs_split_the_cores_and_dead_jobs_are_dropped(tmp_path):
    before = torch.get_num_threads()
    try:
        with ThreadShare(registry=tmp_path) as share:
            alone = share.apply()
            assert alone == share.cpus
            other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
            try:
                with share.lock:  # register a second live job as another process would
                    share.path.write_text(f"[{share.pid}, {other.pid}]")
                assert share.apply() == max(1, share.cpus // 2)
                assert torch.get_num_threads() == max(1, share.cpus // 2)
            finally:
                other.kill()
                other.wait()
            assert share.apply() == share.cpus  # the dead job no longer counts
        assert share.path.read_text() == "[]"
        assert ThreadShare(threads=3, registry=tmp_path).share() == 3
    finally:
        torch.set_num_threads(before)
