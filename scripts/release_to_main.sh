#!/usr/bin/env bash
# Release dev to main (the original description's dev -> main flow):
#   --dry-run   show what would be released (commits and files) and change nothing;
#   --run-now   with a clean working tree: smoke-test dev (a failure stops here), merge dev into main, push main,
#               smoke-test main; a failure there puts main back to its commit before the merge, here and on the
#               remote (a forced push that only replaces the merge this run pushed).
# One of the two is required. Environment: REMOTE (origin), DEV_BRANCH (dev), MAIN_BRANCH (main), SMOKE_TEST (as in
# scripts/feature_finish.sh). The twin for Windows PowerShell is scripts/release_to_main.ps1.
set -euo pipefail

REMOTE="${REMOTE:-origin}"
DEV_BRANCH="${DEV_BRANCH:-dev}"
MAIN_BRANCH="${MAIN_BRANCH:-main}"
SMOKE_TEST="${SMOKE_TEST:-scripts/smoke_test.sh --serve}"
mode=""

while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) mode=dry ;;
        --run-now) mode=run ;;
        -h | --help) sed -n '2,9p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done

say() { echo "[release_to_main] $*"; }
fail() { echo "[release_to_main] FAILED: $*" >&2; exit 1; }
smoke() { (cd "$(git rev-parse --show-toplevel)" && bash -c "$SMOKE_TEST"); }

[ -n "$mode" ] || fail "say --dry-run (show the plan) or --run-now (release)"
git rev-parse --git-dir >/dev/null 2>&1 || fail "not inside a git repository"
[ -z "$(git status --porcelain)" ] || fail "the working tree is not clean: commit or stash first"
start="$(git symbolic-ref --quiet --short HEAD || git rev-parse HEAD)"

git fetch --quiet "$REMOTE"
for branch in "$DEV_BRANCH" "$MAIN_BRANCH"; do
    git show-ref --verify --quiet "refs/remotes/$REMOTE/$branch" || fail "$REMOTE has no '$branch' branch"
done
dev_ref="$REMOTE/$DEV_BRANCH"
main_ref="$REMOTE/$MAIN_BRANCH"

if [ "$mode" = dry ]; then
    say "dry run: nothing is changed"
    count="$(git rev-list --count "$main_ref..$dev_ref")"
    say "$count commit(s) of $DEV_BRANCH are not on $MAIN_BRANCH:"
    git log --oneline "$main_ref..$dev_ref"
    git diff --stat "$main_ref...$dev_ref"
    if git merge-tree --write-tree "$main_ref" "$dev_ref" >/dev/null 2>&1; then
        say "the merge would be clean"
    else
        say "the merge would CONFLICT: resolve it by hand before --run-now"
    fi
    exit 0
fi

back() { git checkout --quiet "$start" 2>/dev/null || true; }

# The local branch brought up to the remote's (fast-forward only); it must then be exactly the remote's, so that
# what is smoke-tested and released is what everyone sees.
sync() {
    local branch="$1"
    if git show-ref --verify --quiet "refs/heads/$branch"; then
        git checkout --quiet "$branch"
        git merge --quiet --ff-only "$REMOTE/$branch" 2>/dev/null ||
            { back; fail "$branch has diverged from $REMOTE/$branch: reconcile it by hand"; }
    else
        git checkout --quiet -b "$branch" --track "$REMOTE/$branch"
    fi
    [ "$(git rev-parse HEAD)" = "$(git rev-parse "$REMOTE/$branch")" ] ||
        { back; fail "$branch has commits that are not on $REMOTE: push them first"; }
}

say "smoke test on $DEV_BRANCH"
sync "$DEV_BRANCH"
smoke || { back; fail "the smoke test failed on $DEV_BRANCH: nothing was released"; }

sync "$MAIN_BRANCH"
before="$(git rev-parse HEAD)"
say "merging $DEV_BRANCH into $MAIN_BRANCH (was ${before:0:12})"
if ! git merge --quiet --no-ff --no-edit "$DEV_BRANCH"; then
    git merge --abort || git reset --quiet --hard "$before"
    back
    fail "merging $DEV_BRANCH into $MAIN_BRANCH conflicts: resolve it by hand; $MAIN_BRANCH is unchanged"
fi
merged="$(git rev-parse HEAD)"
git push --quiet "$REMOTE" "$MAIN_BRANCH" || { git reset --quiet --hard "$before"; back; fail "cannot push $MAIN_BRANCH"; }

say "smoke test on $MAIN_BRANCH"
if ! smoke; then
    git reset --quiet --hard "$before"
    git push --quiet --force-with-lease="$MAIN_BRANCH:$merged" "$REMOTE" "$MAIN_BRANCH" ||
        fail "the smoke test failed on $MAIN_BRANCH and $REMOTE/$MAIN_BRANCH could not be reset: reset it to ${before:0:12} by hand"
    back
    fail "the smoke test failed on $MAIN_BRANCH: it is back at ${before:0:12}, here and on $REMOTE"
fi
back
say "done: $DEV_BRANCH is released to $MAIN_BRANCH (${merged:0:12})"
