# Server up? Database reachable and migrated to head? Redis? Exit code 1 when something is wrong.
param([string]$BaseUrl)
. (Join-Path $PSScriptRoot 'scripts\bootstrap.ps1')
$cliArgs = @('-m', 'app.cli', 'status')
if ($BaseUrl) { $cliArgs += @('--base-url', $BaseUrl) }
& $VenvPython @cliArgs
exit $LASTEXITCODE
