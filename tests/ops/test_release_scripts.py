"""The branch scripts of the original description (feature -> dev, dev -> main), run for real against a
throwaway repository with a bare remote in a temporary directory. The smoke test is replaced by a command that
fails when the tree holds a file named BROKEN, so each test decides which step's smoke test fails."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FEATURE_FINISH = ROOT / "scripts" / "feature_finish.sh"
RELEASE = ROOT / "scripts" / "release_to_main.sh"

ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "测试",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "测试",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "SMOKE_TEST": "test ! -e BROKEN",
}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, env=ENV, check=True, capture_output=True, text=True
    ).stdout.strip()


def commit(repo: Path, name: str, text: str = "x\n") -> str:
    (repo / name).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", f"add {name}")
    return git(repo, "rev-parse", "HEAD")


def run(script: Path, repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(script), *args], cwd=repo, env=ENV, capture_output=True, text=True)


def remote_head(remote: Path, branch: str) -> str:
    return git(remote, "rev-parse", branch)


@pytest.fixture
def repos(tmp_path: Path) -> tuple[Path, Path]:
    """A bare remote with main and dev, and a clone on a feature branch with one commit of its own."""
    remote = tmp_path / "remote.git"
    work = tmp_path / "work"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True, env=ENV)
    subprocess.run(["git", "clone", "-q", str(remote), str(work)], check=True, env=ENV, capture_output=True)
    git(work, "checkout", "-q", "-b", "main")
    commit(work, "README.md", "稻香\n")
    git(work, "push", "-q", "-u", "origin", "main")
    git(work, "checkout", "-q", "-b", "dev")
    git(work, "push", "-q", "-u", "origin", "dev")
    git(work, "checkout", "-q", "-b", "feature/label")
    commit(work, "label.txt")
    return remote, work


class TestFeatureFinish:
    def test_commits_pushes_merges_into_dev_and_pushes_dev(self, repos):
        remote, work = repos
        (work / "left-over.txt").write_text("not yet committed\n")
        result = run(FEATURE_FINISH, work)
        assert result.returncode == 0, result.stderr
        assert git(work, "status", "--porcelain") == ""
        feature_head = remote_head(remote, "feature/label")
        assert "left-over.txt" in git(work, "show", "--name-only", "--format=", feature_head)
        dev = remote_head(remote, "dev")
        assert git(work, "merge-base", "--is-ancestor", feature_head, dev) == ""
        assert git(work, "rev-parse", "--abbrev-ref", "HEAD") == "dev"

    def test_a_named_feature_branch_is_checked_out_first(self, repos):
        remote, work = repos
        git(work, "checkout", "-q", "main")
        result = run(FEATURE_FINISH, work, "--feature-branch", "feature/label")
        assert result.returncode == 0, result.stderr
        assert "label.txt" in git(work, "ls-tree", "--name-only", remote_head(remote, "dev"))

    def test_a_failing_smoke_test_on_the_feature_merges_nothing(self, repos):
        remote, work = repos
        dev_before = remote_head(remote, "dev")
        commit(work, "BROKEN")
        result = run(FEATURE_FINISH, work)
        assert result.returncode != 0
        assert "nothing was merged" in result.stderr
        assert remote_head(remote, "dev") == dev_before
        assert git(work, "rev-parse", "dev") == dev_before
        assert git(work, "rev-parse", "--abbrev-ref", "HEAD") == "feature/label"

    def test_a_failing_smoke_test_on_dev_puts_dev_back(self, repos):
        remote, work = repos
        # dev on its own is fine and so is the feature; only the two together break.
        git(work, "checkout", "-q", "dev")
        commit(work, "half-a")
        git(work, "push", "-q", "origin", "dev")
        dev_before = remote_head(remote, "dev")
        git(work, "checkout", "-q", "feature/label")
        commit(work, "half-b")
        env_smoke = {**ENV, "SMOKE_TEST": "! { test -e half-a && test -e half-b; }"}
        result = subprocess.run(
            ["bash", str(FEATURE_FINISH)], cwd=work, env=env_smoke, capture_output=True, text=True
        )
        assert result.returncode != 0
        assert "back at" in result.stderr
        assert git(work, "rev-parse", "dev") == dev_before
        assert remote_head(remote, "dev") == dev_before
        assert git(work, "rev-parse", "--abbrev-ref", "HEAD") == "feature/label"

    def test_a_conflict_leaves_dev_unchanged(self, repos):
        remote, work = repos
        git(work, "checkout", "-q", "dev")
        commit(work, "label.txt", "dev's own text\n")
        git(work, "push", "-q", "origin", "dev")
        dev_before = remote_head(remote, "dev")
        git(work, "checkout", "-q", "feature/label")
        result = run(FEATURE_FINISH, work)
        assert result.returncode != 0
        assert "conflicts" in result.stderr
        assert git(work, "rev-parse", "dev") == dev_before
        assert remote_head(remote, "dev") == dev_before
        assert git(work, "status", "--porcelain") == ""

    @pytest.mark.parametrize("branch", ["dev", "main"])
    def test_refuses_to_finish_dev_or_main(self, repos, branch):
        remote, work = repos
        git(work, "checkout", "-q", branch)
        before = remote_head(remote, "dev")
        result = run(FEATURE_FINISH, work)
        assert result.returncode != 0
        assert "not a feature branch" in result.stderr
        assert remote_head(remote, "dev") == before


def _dev_with_work(remote: Path, work: Path) -> None:
    git(work, "checkout", "-q", "dev")
    git(work, "merge", "-q", "--no-ff", "--no-edit", "feature/label")
    git(work, "push", "-q", "origin", "dev")


class TestReleaseToMain:
    def test_dry_run_shows_the_plan_and_changes_nothing(self, repos):
        remote, work = repos
        _dev_with_work(remote, work)
        main_before = remote_head(remote, "main")
        result = run(RELEASE, work, "--dry-run")
        assert result.returncode == 0, result.stderr
        assert "add label.txt" in result.stdout
        assert "label.txt" in result.stdout
        assert "would be clean" in result.stdout
        assert remote_head(remote, "main") == main_before
        assert git(work, "rev-parse", "main") == main_before

    def test_releases_dev_to_main(self, repos):
        remote, work = repos
        _dev_with_work(remote, work)
        result = run(RELEASE, work, "--run-now")
        assert result.returncode == 0, result.stderr
        main = remote_head(remote, "main")
        assert git(work, "merge-base", "--is-ancestor", remote_head(remote, "dev"), main) == ""
        assert git(work, "rev-parse", "--abbrev-ref", "HEAD") == "dev"  # back where it started

    def test_a_failing_smoke_test_on_main_resets_main_here_and_on_the_remote(self, repos):
        remote, work = repos
        git(work, "checkout", "-q", "main")
        commit(work, "main-half")
        git(work, "push", "-q", "origin", "main")
        main_before = remote_head(remote, "main")
        git(work, "checkout", "-q", "dev")
        commit(work, "dev-half")
        git(work, "push", "-q", "origin", "dev")
        env_smoke = {**ENV, "SMOKE_TEST": "! { test -e main-half && test -e dev-half; }"}
        result = subprocess.run(
            ["bash", str(RELEASE), "--run-now"], cwd=work, env=env_smoke, capture_output=True, text=True
        )
        assert result.returncode != 0
        assert "back at" in result.stderr
        assert remote_head(remote, "main") == main_before
        assert git(work, "rev-parse", "main") == main_before

    def test_a_failing_smoke_test_on_dev_releases_nothing(self, repos):
        remote, work = repos
        git(work, "checkout", "-q", "dev")
        commit(work, "BROKEN")
        git(work, "push", "-q", "origin", "dev")
        main_before = remote_head(remote, "main")
        result = run(RELEASE, work, "--run-now")
        assert result.returncode != 0
        assert "nothing was released" in result.stderr
        assert remote_head(remote, "main") == main_before

    def test_refuses_a_dirty_tree_and_unpushed_dev(self, repos):
        remote, work = repos
        main_before = remote_head(remote, "main")
        (work / "scratch.txt").write_text("?\n")
        result = run(RELEASE, work, "--run-now")
        assert result.returncode != 0 and "not clean" in result.stderr
        (work / "scratch.txt").unlink()
        git(work, "checkout", "-q", "dev")
        commit(work, "unpushed")
        result = run(RELEASE, work, "--run-now")
        assert result.returncode != 0 and "push them first" in result.stderr
        assert remote_head(remote, "main") == main_before

    def test_needs_a_mode(self, repos):
        _, work = repos
        result = run(RELEASE, work)
        assert result.returncode != 0 and "--dry-run" in result.stderr
