# Shared by start.ps1, stop.ps1, status.ps1 and scripts/smoke_test.ps1: dot-source it (. scripts\bootstrap.ps1).
# Makes sure .venv exists with the locked dependencies and the project installed, then sets
# $DaoxiangRoot and $VenvPython. Reinstalls only when requirements.lock, requirements-dev.lock or pyproject.toml changed
# (their checksum is kept in .venv\.daoxiang-lock-stamp).
$ErrorActionPreference = 'Stop'
$DaoxiangRoot = Split-Path -Parent $PSScriptRoot
Set-Location $DaoxiangRoot

function Find-Python311 {
    $ErrorActionPreference = 'Continue'  # a missing interpreter writes to stderr; that is not fatal here
    $candidates = @()
    if ($env:PYTHON) { $candidates += ,@($env:PYTHON) }
    $candidates += ,@('py', '-3')
    $candidates += ,@('py', '-3.11')
    $candidates += ,@('python3.11')
    $candidates += ,@('python3')
    $candidates += ,@('python')
    foreach ($candidate in $candidates) {
        $exe = $candidate[0]
        $extra = @($candidate | Select-Object -Skip 1)
        if (-not (Get-Command $exe -ErrorAction SilentlyContinue)) { continue }
        & $exe @extra -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>$null
        if ($LASTEXITCODE -eq 0) { return ,@($candidate) }
    }
    return $null
}

$venv = Join-Path $DaoxiangRoot '.venv'
$VenvPython = Join-Path $venv 'Scripts\python.exe'
if (-not (Test-Path $VenvPython)) { $VenvPython = Join-Path $venv 'bin/python' }
if (-not (Test-Path $VenvPython)) {
    $python = Find-Python311
    if (-not $python) {
        Write-Error '需要 Python 3.11 或更高版本 (试过 py -3.11, python3.11, python3, python)。请先安装 Python 3.11+，或设置 $env:PYTHON。'
        exit 1
    }
    $exe = $python[0]
    $extra = @($python | Select-Object -Skip 1)
    Write-Host "• 创建虚拟环境 .venv"
    & $exe @extra -m venv $venv
    if ($LASTEXITCODE -ne 0) { exit 1 }
    $VenvPython = Join-Path $venv 'Scripts\python.exe'
    if (-not (Test-Path $VenvPython)) { $VenvPython = Join-Path $venv 'bin/python' }
}

$stamp = Join-Path $venv '.daoxiang-lock-stamp'
$wanted = & $VenvPython -c "import hashlib; d = hashlib.sha256(); [d.update(open(n, 'rb').read()) for n in ('requirements.lock', 'requirements-dev.lock', 'pyproject.toml')]; print(d.hexdigest())"
$have = if (Test-Path $stamp) { (Get-Content $stamp -Raw).Trim() } else { '' }
if ($have -ne $wanted) {
    Write-Host '• 安装锁定的依赖 (requirements-dev.lock) …'
    & $VenvPython -m pip install --disable-pip-version-check -q -r requirements-dev.lock
    if ($LASTEXITCODE -ne 0) { exit 1 }
    & $VenvPython -m pip install --disable-pip-version-check -q --no-deps -e '.[dev]'
    if ($LASTEXITCODE -ne 0) { exit 1 }
    Set-Content -Path $stamp -Value $wanted -Encoding ascii
}
