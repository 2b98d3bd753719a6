# Stop the background server and worker started by .\start.ps1.
param([int]$Timeout = 15)
. (Join-Path $PSScriptRoot 'scripts\bootstrap.ps1')
& $VenvPython -m app.cli stop --timeout $Timeout
exit $LASTEXITCODE
