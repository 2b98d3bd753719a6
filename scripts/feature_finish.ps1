# Finish a feature branch (feature -> dev), the twin of scripts/feature_finish.sh (read it for the steps):
#   .\scripts\feature_finish.ps1                              the current branch
#   .\scripts\feature_finish.ps1 -FeatureBranch 'feature/xxx'
# -Remote (origin), -DevBranch (dev), -SmokeTest: a PowerShell command run in the repository's root (default:
# the smoke test of scripts\smoke_test.ps1 -Serve on a fresh server of the checked-out tree).
param(
    [string]$FeatureBranch = '',
    [string]$Remote = $(if ($env:REMOTE) { $env:REMOTE } else { 'origin' }),
    [string]$DevBranch = $(if ($env:DEV_BRANCH) { $env:DEV_BRANCH } else { 'dev' }),
    [string]$SmokeTest = $(if ($env:SMOKE_TEST_PS) { $env:SMOKE_TEST_PS } else { '& .\scripts\smoke_test.ps1 -Serve' })
)
$ErrorActionPreference = 'Stop'

function Say([string]$Text) { Write-Host "[feature_finish] $Text" }
function Fail([string]$Text) { Write-Host "[feature_finish] FAILED: $Text" -ForegroundColor Red; exit 1 }
function Git { & git @args; if ($LASTEXITCODE -ne 0) { throw "git $($args -join ' ') failed" } }
function GitOk { & git @args 2>$null | Out-Null; return ($LASTEXITCODE -eq 0) }
function Smoke {
    Push-Location (git rev-parse --show-toplevel)
    try { Invoke-Expression $SmokeTest; return ($LASTEXITCODE -eq 0 -or $null -eq $LASTEXITCODE) } catch { return $false }
    finally { Pop-Location }
}

if (-not (GitOk rev-parse --git-dir)) { Fail 'not inside a git repository' }
$current = (git symbolic-ref --quiet --short HEAD)
$feature = if ($FeatureBranch) { $FeatureBranch } else { $current }
if (-not $feature) { Fail 'no branch checked out (detached HEAD): name one with -FeatureBranch' }
if (@($DevBranch, 'main', 'master') -contains $feature) { Fail "'$feature' is not a feature branch" }

if ($current -ne $feature) {
    if (git status --porcelain) { Fail "uncommitted changes on '$current': commit or stash them first" }
    Git checkout --quiet $feature
}
if (git status --porcelain) {
    Git add -A
    Git commit --quiet -m "feature_finish: work in progress on $feature ($((Get-Date).ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ssZ')))"
    Say "committed the uncommitted changes on $feature"
}

Say "pushing $feature to $Remote"
if (-not (GitOk push --quiet -u $Remote $feature)) { Fail "cannot push $feature" }

Say "smoke test on $feature"
if (-not (Smoke)) { Fail "the smoke test failed on ${feature}: nothing was merged" }

Say "merging $feature into $DevBranch"
Git fetch --quiet $Remote
if (GitOk show-ref --verify --quiet "refs/heads/$DevBranch") {
    Git checkout --quiet $DevBranch
    if ((GitOk show-ref --verify --quiet "refs/remotes/$Remote/$DevBranch") -and
        -not (GitOk merge --quiet --ff-only "$Remote/$DevBranch")) {
        Git checkout --quiet $feature
        Fail "$DevBranch has diverged from $Remote/${DevBranch}: reconcile it by hand"
    }
} elseif (GitOk show-ref --verify --quiet "refs/remotes/$Remote/$DevBranch") {
    Git checkout --quiet -b $DevBranch --track "$Remote/$DevBranch"
} else {
    Git checkout --quiet $feature
    Fail "there is no '$DevBranch' branch, here or on $Remote"
}
$before = (git rev-parse HEAD)

if (-not (GitOk merge --quiet --no-ff --no-edit $feature)) {
    if (-not (GitOk merge --abort)) { Git reset --quiet --hard $before }
    Git checkout --quiet $feature
    Fail "merging $feature into $DevBranch conflicts: resolve it by hand; $DevBranch is unchanged"
}

Say "smoke test on $DevBranch"
if (-not (Smoke)) {
    Git reset --quiet --hard $before
    Git checkout --quiet $feature
    Fail "the smoke test failed on $DevBranch after the merge: $DevBranch is back at $($before.Substring(0, 12)), nothing was pushed"
}

if (-not (GitOk push --quiet $Remote $DevBranch)) { Fail "cannot push $DevBranch" }
Say "done: $feature is merged into $DevBranch and pushed"
