# Smoke test: registers a temporary user, logs in, reads it back, checks health (twin of scripts/smoke_test.sh).
#   .\scripts\smoke_test.ps1                               a running server at http://127.0.0.1:8000
#   .\scripts\smoke_test.ps1 -BaseUrl http://host:port
#   .\scripts\smoke_test.ps1 -Serve                        a fresh server of this checkout (temporary SQLite
#                                                          database, a free port), stopped afterwards
param([string]$BaseUrl = 'http://127.0.0.1:8000', [switch]$Serve)
. (Join-Path $PSScriptRoot 'bootstrap.ps1')
if (-not $Serve) {
    & $VenvPython -m app.cli smoke --base-url $BaseUrl
    exit $LASTEXITCODE
}

$tmp = Join-Path ([System.IO.Path]::GetTempPath()) ("daoxiang-smoke-" + [guid]::NewGuid())
New-Item -ItemType Directory -Path $tmp | Out-Null
$listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
$listener.Start(); $port = $listener.LocalEndpoint.Port; $listener.Stop()
$saved = @{ DATABASE_URL = $env:DATABASE_URL; VAR_DIR = $env:VAR_DIR; APP_ENV = $env:APP_ENV; REDIS_URL = $env:REDIS_URL }
$env:DATABASE_URL = "sqlite+aiosqlite:///" + ((Join-Path $tmp 'smoke.db') -replace '\\', '/')
$env:VAR_DIR = Join-Path $tmp 'var'
$env:APP_ENV = 'dev'
$env:REDIS_URL = $null
$server = $null
$code = 1
try {
    & $VenvPython -m app.cli migrate | Out-Null
    if ($LASTEXITCODE -ne 0) { throw 'migrate failed' }
    $server = Start-Process -FilePath $VenvPython -ArgumentList @('-m', 'app.cli', 'serve', '--host', '127.0.0.1', '--port', $port) `
        -PassThru -NoNewWindow -RedirectStandardOutput (Join-Path $tmp 'server.log') -RedirectStandardError (Join-Path $tmp 'server.err')
    $deadline = (Get-Date).AddSeconds(60)
    $up = $false
    while ((Get-Date) -lt $deadline -and -not $up) {
        try { $up = (Invoke-WebRequest -UseBasicParsing -TimeoutSec 1 "http://127.0.0.1:$port/api/health").StatusCode -eq 200 }
        catch { Start-Sleep -Milliseconds 200 }
    }
    if (-not $up) { throw "the server of this checkout did not answer /api/health within 60 s" }
    & $VenvPython -m app.cli smoke --base-url "http://127.0.0.1:$port"
    $code = $LASTEXITCODE
} catch {
    Write-Host $_ -ForegroundColor Red
    $code = 1
} finally {
    if ($server -and -not $server.HasExited) { Stop-Process -Id $server.Id -Force }
    foreach ($name in $saved.Keys) { Set-Item -Path "env:$name" -Value $saved[$name] -ErrorAction SilentlyContinue }
    Remove-Item -Recurse -Force $tmp -ErrorAction SilentlyContinue
}
exit $code
