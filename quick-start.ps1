# Quick start for development (twin of ./quick-start.sh): .venv and migrations, then the shop in the foreground
# with auto-reload on code changes. No demo data, no worker: for the whole demo shop use .\start.ps1.
#   .\quick-start.ps1                    http://127.0.0.1:8000
#   .\quick-start.ps1 -Port 8080 -BindHost 0.0.0.0
param([string]$BindHost = '127.0.0.1', [int]$Port = 8000)
. (Join-Path $PSScriptRoot 'scripts\bootstrap.ps1')
Set-Location $PSScriptRoot
& $VenvPython -m app.cli migrate
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
Write-Host "• http://${BindHost}:$Port/  (Ctrl+C 停止；修改 app\ 下的代码会自动重载)"
& $VenvPython -m app.cli serve --reload --host $BindHost --port $Port
exit $LASTEXITCODE
