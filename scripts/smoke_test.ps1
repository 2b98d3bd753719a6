# Smoke test a running server: registers a temporary user, logs in, reads it back, checks health.
#   .\scripts\smoke_test.ps1                               against http://127.0.0.1:8000
#   .\scripts\smoke_test.ps1 -BaseUrl http://host:port
param([string]$BaseUrl = 'http://127.0.0.1:8000')
. (Join-Path $PSScriptRoot 'bootstrap.ps1')
& $VenvPython -m app.cli smoke --base-url $BaseUrl
exit $LASTEXITCODE
