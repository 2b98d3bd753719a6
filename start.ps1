# Start the shop: .venv set-up, migrations, demo data, server in the background (pid and log under var\).
#   .\start.ps1                  background, http://127.0.0.1:8000
#   .\start.ps1 -Foreground      stay attached
#   .\start.ps1 -Port 8080 -BindHost 0.0.0.0
param(
    [switch]$Foreground,
    [string]$BindHost = '127.0.0.1',
    [int]$Port = 8000,
    [switch]$NoWorker
)
. (Join-Path $PSScriptRoot 'scripts\bootstrap.ps1')
$cliArgs = @('-m', 'app.cli', 'start', '--host', $BindHost, '--port', $Port)
if ($Foreground) { $cliArgs += '--foreground' }
if ($NoWorker) { $cliArgs += '--no-worker' }
& $VenvPython @cliArgs
exit $LASTEXITCODE
