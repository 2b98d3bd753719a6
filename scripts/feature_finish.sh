#!/usr/bin/env bash
# Finish a feature branch (the original description's feature -> dev flow, for one developer or a small team):
#   1. commit what is left uncommitted on the feature branch (an automatic message),
#   2. push the feature branch,
#   3. smoke-test the feature branch (a failure stops here: nothing merged),
#   4. check out dev, pull it, merge the feature into it (a conflict: the merge is undone, back to the feature),
#   5. smoke-test dev (a failure: dev is put back where it was before the merge, back to the feature),
#   6. push dev.
# Usage:
#   scripts/feature_finish.sh                               the current branch
#   scripts/feature_finish.sh --feature-branch feature/xxx
# Environment:
#   REMOTE (origin), DEV_BRANCH (dev),
#   SMOKE_TEST: the smoke test, run by bash in the repository's root (default: scripts/smoke_test.sh --serve,
#   a fresh server of the checked-out tree on a temporary SQLite database, registered user, login, health).
# The twin for Windows PowerShell is scripts/feature_finish.ps1. tests/ops/test_release_scripts.py runs this one
# against a throwaway repository with a bare remote.
set -euo pipefail

REMOTE="${REMOTE:-origin}"
DEV_BRANCH="${DEV_BRANCH:-dev}"
SMOKE_TEST="${SMOKE_TEST:-scripts/smoke_test.sh --serve}"
feature=""

while [ $# -gt 0 ]; do
    case "$1" in
        --feature-branch) feature="${2:?--feature-branch needs a branch name}"; shift 2 ;;
        -h | --help) sed -n '2,18p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done

say() { echo "[feature_finish] $*"; }
fail() { echo "[feature_finish] FAILED: $*" >&2; exit 1; }
smoke() { (cd "$(git rev-parse --show-toplevel)" && bash -c "$SMOKE_TEST"); }

git rev-parse --git-dir >/dev/null 2>&1 || fail "not inside a git repository"
current="$(git symbolic-ref --quiet --short HEAD || true)"
feature="${feature:-$current}"
[ -n "$feature" ] || fail "no branch checked out (detached HEAD): name one with --feature-branch"
case "$feature" in
    "$DEV_BRANCH" | main | master) fail "'$feature' is not a feature branch" ;;
esac

if [ "$current" != "$feature" ]; then
    [ -z "$(git status --porcelain)" ] || fail "uncommitted changes on '$current': commit or stash them first"
    git checkout --quiet "$feature" || fail "cannot check out '$feature'"
fi

if [ -n "$(git status --porcelain)" ]; then
    git add -A
    git commit --quiet -m "feature_finish: work in progress on $feature ($(date -u +%Y-%m-%dT%H:%M:%SZ))"
    say "committed the uncommitted changes on $feature"
fi

say "pushing $feature to $REMOTE"
git push --quiet -u "$REMOTE" "$feature" || fail "cannot push $feature"

say "smoke test on $feature"
smoke || fail "the smoke test failed on $feature: nothing was merged"

say "merging $feature into $DEV_BRANCH"
git fetch --quiet "$REMOTE"
if git show-ref --verify --quiet "refs/heads/$DEV_BRANCH"; then
    git checkout --quiet "$DEV_BRANCH"
    if git show-ref --verify --quiet "refs/remotes/$REMOTE/$DEV_BRANCH"; then
        git merge --quiet --ff-only "$REMOTE/$DEV_BRANCH" ||
            { git checkout --quiet "$feature"; fail "$DEV_BRANCH has diverged from $REMOTE/$DEV_BRANCH: reconcile it by hand"; }
    fi
elif git show-ref --verify --quiet "refs/remotes/$REMOTE/$DEV_BRANCH"; then
    git checkout --quiet -b "$DEV_BRANCH" --track "$REMOTE/$DEV_BRANCH"
else
    git checkout --quiet "$feature"
    fail "there is no '$DEV_BRANCH' branch, here or on $REMOTE"
fi
before="$(git rev-parse HEAD)"

if ! git merge --quiet --no-ff --no-edit "$feature"; then
    git merge --abort || git reset --quiet --hard "$before"
    git checkout --quiet "$feature"
    fail "merging $feature into $DEV_BRANCH conflicts: resolve it by hand; $DEV_BRANCH is unchanged"
fi

say "smoke test on $DEV_BRANCH"
if ! smoke; then
    git reset --quiet --hard "$before"
    git checkout --quiet "$feature"
    fail "the smoke test failed on $DEV_BRANCH after the merge: $DEV_BRANCH is back at ${before:0:12}, nothing was pushed"
fi

git push --quiet "$REMOTE" "$DEV_BRANCH" || fail "cannot push $DEV_BRANCH"
say "done: $feature is merged into $DEV_BRANCH and pushed"
