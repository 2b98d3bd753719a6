# Release dev to main, the twin of scripts/release_to_main.sh (read it for the steps):
#   .\scripts\release_to_main.ps1 -DryRun     show the commits and files to be released; change nothing
#   .\scripts\release_to_main.ps1 -RunNow     smoke dev, merge into main, push, smoke main, roll main back on failure
param(
    [switch]$DryRun,
    [switch]$RunNow,
    [string]$Remote = $(if ($env:REMOTE) { $env:REMOTE } else { 'origin' }),
    [string]$DevBranch = $(if ($env:DEV_BRANCH) { $env:DEV_BRANCH } else { 'dev' }),
    [string]$MainBranch = $(if ($env:MAIN_BRANCH) { $env:MAIN_BRANCH } else { 'main' }),
    [string]$SmokeTest = $(if ($env:SMOKE_TEST_PS) { $env:SMOKE_TEST_PS } else { '& .\scripts\smoke_test.ps1 -Serve' })
)
$ErrorActionPreference = 'Stop'

function Say([string]$Text) { Write-Host "[release_to_main] $Text" }
function Fail([string]$Text) { Write-Host "[release_to_main] FAILED: $Text" -ForegroundColor Red; exit 1 }
function Git { & git @args; if ($LASTEXITCODE -ne 0) { throw "git $($args -join ' ') failed" } }
function GitOk { & git @args 2>$null | Out-Null; return ($LASTEXITCODE -eq 0) }
function Smoke {
    Push-Location (git rev-parse --show-toplevel)
    try { Invoke-Expression $SmokeTest; return ($LASTEXITCODE -eq 0 -or $null -eq $LASTEXITCODE) } catch { return $false }
    finally { Pop-Location }
}

if (-not ($DryRun -or $RunNow)) { Fail 'say -DryRun (show the plan) or -RunNow (release)' }
if (-not (GitOk rev-parse --git-dir)) { Fail 'not inside a git repository' }
if (git status --porcelain) { Fail 'the working tree is not clean: commit or stash first' }
$start = (git symbolic-ref --quiet --short HEAD)
if (-not $start) { $start = (git rev-parse HEAD) }

Git fetch --quiet $Remote
foreach ($branch in @($DevBranch, $MainBranch)) {
    if (-not (GitOk show-ref --verify --quiet "refs/remotes/$Remote/$branch")) { Fail "$Remote has no '$branch' branch" }
}
$devRef = "$Remote/$DevBranch"
$mainRef = "$Remote/$MainBranch"

if ($DryRun) {
    Say 'dry run: nothing is changed'
    Say "$(git rev-list --count "$mainRef..$devRef") commit(s) of $DevBranch are not on ${MainBranch}:"
    git log --oneline "$mainRef..$devRef"
    git diff --stat "$mainRef...$devRef"
    if (GitOk merge-tree --write-tree $mainRef $devRef) { Say 'the merge would be clean' }
    else { Say 'the merge would CONFLICT: resolve it by hand before -RunNow' }
    exit 0
}

function Back { & git checkout --quiet $start 2>$null | Out-Null }
function Sync([string]$Branch) {
    if (GitOk show-ref --verify --quiet "refs/heads/$Branch") {
        Git checkout --quiet $Branch
        if (-not (GitOk merge --quiet --ff-only "$Remote/$Branch")) { Back; Fail "$Branch has diverged from $Remote/${Branch}: reconcile it by hand" }
    } else {
        Git checkout --quiet -b $Branch --track "$Remote/$Branch"
    }
    if ((git rev-parse HEAD) -ne (git rev-parse "$Remote/$Branch")) { Back; Fail "$Branch has commits that are not on ${Remote}: push them first" }
}

Say "smoke test on $DevBranch"
Sync $DevBranch
if (-not (Smoke)) { Back; Fail "the smoke test failed on ${DevBranch}: nothing was released" }

Sync $MainBranch
$before = (git rev-parse HEAD)
Say "merging $DevBranch into $MainBranch (was $($before.Substring(0, 12)))"
if (-not (GitOk merge --quiet --no-ff --no-edit $DevBranch)) {
    if (-not (GitOk merge --abort)) { Git reset --quiet --hard $before }
    Back
    Fail "merging $DevBranch into $MainBranch conflicts: resolve it by hand; $MainBranch is unchanged"
}
$merged = (git rev-parse HEAD)
if (-not (GitOk push --quiet $Remote $MainBranch)) { Git reset --quiet --hard $before; Back; Fail "cannot push $MainBranch" }

Say "smoke test on $MainBranch"
if (-not (Smoke)) {
    Git reset --quiet --hard $before
    if (-not (GitOk push --quiet "--force-with-lease=${MainBranch}:$merged" $Remote $MainBranch)) {
        Fail "the smoke test failed on $MainBranch and $Remote/$MainBranch could not be reset: reset it to $($before.Substring(0, 12)) by hand"
    }
    Back
    Fail "the smoke test failed on ${MainBranch}: it is back at $($before.Substring(0, 12)), here and on $Remote"
}
Back
Say "done: $DevBranch is released to $MainBranch ($($merged.Substring(0, 12)))"
